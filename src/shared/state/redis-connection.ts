/**
 * How VeloFlux connects to Redis, and what a failed command means. Every connection is set up
 * for a proxy (DESIGN.md §3): nothing ever waits on Redis longer than `commandTimeout`, a command
 * sent while disconnected fails at once instead of queueing, and the connection itself keeps
 * reconnecting in the background with a bounded backoff so state catches up when Redis returns.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config/schema.js';
import { VelofluxError } from '../errors.js';

export type RedisConnection = Redis | Cluster;

/** Long enough for a TLS handshake across a data centre, short enough to notice an outage fast. */
const CONNECT_TIMEOUT_MS = 1000;
const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 1000;

/** 50, 100, 200, ... ms, capped at 1 s, forever: Redis coming back after an hour is still picked up. */
function reconnectDelay(attempt: number): number {
  return Math.min(FIRST_RETRY_MS * 2 ** Math.min(attempt - 1, 10), MAX_RETRY_MS);
}

/**
 * A connection for one role (`state`, `state-events`, `cluster`...), visible in CLIENT LIST as
 * `veloflux-<role>`. Failures surface through command rejections and the connection's
 * ready/close events, so the 'error' event is consumed here: without a listener ioredis would
 * print every reconnect attempt as an unhandled error.
 */
export function createRedisConnection(config: RedisConfig, role: string): RedisConnection {
  const perConnection = {
    commandTimeout: config.commandTimeout,
    // A command whose connection drops fails at once: it is never sent again after a reconnect,
    // because our writes (Lua scripts that bump a version, INCRBY) are not idempotent and the
    // caller has already been told it failed.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: CONNECT_TIMEOUT_MS,
    connectionName: `veloflux-${role}`,
  } satisfies RedisOptions;
  let connection: RedisConnection;
  if (config.cluster !== undefined) {
    const options: ClusterOptions = {
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      clusterRetryStrategy: reconnectDelay,
      slotsRefreshTimeout: CONNECT_TIMEOUT_MS,
      redisOptions: perConnection,
    };
    connection = new Cluster(config.cluster, options);
  } else {
    const options: RedisOptions = {
      ...perConnection,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      retryStrategy: reconnectDelay,
    };
    if (config.sentinels !== undefined) {
      // failoverDetector (off by default in ioredis): listen to the sentinels' +switch-master and
      // reconnect to the new master at once. Without it a planned `SENTINEL failover` left
      // VeloFlux on the old master, now a read-only replica, until that connection broke (issue 13).
      connection = new Redis({ ...options, sentinels: config.sentinels, name: config.name, sentinelRetryStrategy: reconnectDelay, failoverDetector: true });
    } else {
      connection = new Redis(config.url ?? 'redis://127.0.0.1:6379', options);
    }
  }
  connection.on('error', () => {});
  return connection;
}

/**
 * How long a user of a new connection waits for it before treating Redis as down. A connection
 * is not ready the moment it is created (TCP, then ioredis' INFO check); a command sent before
 * fails at once (no offline queue), so using it right away reported a healthy Redis as
 * unavailable on every start (issue 13).
 */
export const START_WAIT_MS = 3000;

/** Resolves true once `connection` is ready (at once if it is), false after `timeoutMs` or when it is closed for good. */
export function whenReady(connection: RedisConnection, timeoutMs = START_WAIT_MS): Promise<boolean> {
  if (connection.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const settle = (ready: boolean) => {
      clearTimeout(timer);
      connection.off('ready', onReady);
      connection.off('end', onEnd);
      resolve(ready);
    };
    const onReady = () => settle(true);
    const onEnd = () => settle(false);
    const timer = setTimeout(settle, timeoutMs, false).unref();
    connection.on('ready', onReady);
    connection.on('end', onEnd);
  });
}

/** QUIT when connected (pending replies still arrive), otherwise just stop reconnecting. */
export async function closeRedisConnection(connection: RedisConnection): Promise<void> {
  if (connection.status === 'end') return;
  try {
    await connection.quit();
  } catch {
    connection.disconnect();
  }
}

/**
 * Every failure to get an answer from Redis (not connected, command timeout, connection lost,
 * a cluster or replica not ready) means the same thing to a caller: the state store is
 * unavailable and the fallback applies. The original error stays as `cause` for the logs.
 */
export function stateUnavailable(error: unknown, what: string): VelofluxError {
  if (error instanceof VelofluxError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new VelofluxError('VF_ERR_STATE_UNAVAILABLE', `Redis did not answer ${what}: ${reason}`, { cause: error });
}
