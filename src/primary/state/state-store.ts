/**
 * The state store this instance uses, chosen by the static config: embedded (default) under
 * dataDir, or Redis when `server.redis` is set (or VELOFLUX_REDIS_URL). And this instance's node id, the `origin` of the
 * changes it makes and its name in the cluster's node list.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../../shared/log.js';
import type { ServerConfig } from '../../shared/config/schema.js';
import { EmbeddedStateStore } from '../../shared/state/embedded-store.js';
import { RedisStateStore } from '../../shared/state/redis-store.js';
import type { StateStore } from '../../shared/state/store.js';

/** Host name plus a random suffix: unique per start, readable in the node list. */
export function newNodeId(): string {
  return `${hostname()}-${randomBytes(3).toString('hex')}`;
}

/** How long start-up waits for Redis before serving the file alone (it catches up when Redis answers). */
const REDIS_START_WAIT_MS = 3000;

export async function openStateStore(server: ServerConfig, nodeId: string, log: Logger): Promise<StateStore> {
  if (server.redis !== undefined) {
    const report = (message: string, error?: unknown) => log.warn({ err: error instanceof Error ? error.message : error }, message);
    const store = new RedisStateStore(server.redis, nodeId, { log: report });
    store.onStatus((status) => {
      if (status.available) log.info({ backend: 'redis' }, 'state store available');
      else log.warn({ backend: 'redis', error: status.error }, 'state store unavailable: proxying continues on the last known config, rate limits use local shares, state writes fail with 503');
    });
    const available = await store.whenAvailable(REDIS_START_WAIT_MS);
    log.info({ backend: 'redis', keyPrefix: server.redis.keyPrefix, nodeId, available }, 'state store open');
    return store;
  }
  const store = await EmbeddedStateStore.open(server.dataDir, nodeId);
  log.info({ backend: 'embedded', dir: store.fileOf('config').replace(/\/config\.json$/, ''), nodeId }, 'state store open');
  return store;
}
