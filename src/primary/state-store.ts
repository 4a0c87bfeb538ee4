/**
 * The state store this instance uses, chosen by the static config: embedded (default) under
 * dataDir, or Redis when `server.redis` is set. And this instance's node id, the `origin` of the
 * changes it makes and its name in the cluster's node list.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../shared/log.js';
import type { ServerConfig } from '../shared/config/schema.js';
import { EmbeddedStateStore } from '../shared/state/embedded-store.js';
import type { StateStore } from '../shared/state/store.js';

/** Host name plus a random suffix: unique per start, readable in the node list. */
export function newNodeId(): string {
  return `${hostname()}-${randomBytes(3).toString('hex')}`;
}

export async function openStateStore(server: ServerConfig, nodeId: string, log: Logger): Promise<StateStore> {
  const store = await EmbeddedStateStore.open(server.dataDir, nodeId);
  log.info({ backend: 'embedded', dir: store.fileOf('config').replace(/\/config\.json$/, ''), nodeId }, 'state store open');
  return store;
}
