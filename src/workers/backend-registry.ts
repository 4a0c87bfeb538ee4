/**
 * Per-worker state that outlives a config swap, keyed by backend id (as Caddy's `Host` table):
 * the counters balancers read, and the upstream connection pools, so keep-alive connections are
 * not thrown away by a reload that did not touch the backend.
 */
import { Pool } from 'undici';
import { BackendStats } from './backend.js';

export interface UpstreamPoolOptions {
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  readonly keepAliveMs: number;
  readonly maxConnections: number;
}

interface PoolEntry {
  readonly key: string;
  readonly pool: Pool;
}

export class BackendRegistry {
  readonly #stats = new Map<string, BackendStats>();
  readonly #pools = new Map<string, PoolEntry>();

  statsFor(backendId: string): BackendStats {
    let stats = this.#stats.get(backendId);
    if (stats === undefined) {
      stats = new BackendStats();
      this.#stats.set(backendId, stats);
    }
    return stats;
  }

  /** The undici pool for a backend; a changed URL or option set gets a new pool. */
  poolFor(backendId: string, origin: string, options: UpstreamPoolOptions): Pool {
    const key = `${origin} ${options.connectTimeoutMs} ${options.responseTimeoutMs} ${options.keepAliveMs} ${options.maxConnections}`;
    const existing = this.#pools.get(backendId);
    if (existing !== undefined && existing.key === key) return existing.pool;
    if (existing !== undefined) void existing.pool.close();
    const pool = new Pool(origin, {
      connections: options.maxConnections,
      pipelining: 1,
      connectTimeout: options.connectTimeoutMs,
      headersTimeout: options.responseTimeoutMs,
      // The whole-exchange deadline is enforced by the proxy; this only bounds silence between chunks.
      bodyTimeout: options.responseTimeoutMs,
      // Idle sockets are closed before the backend's own keep-alive ends, to avoid the stale-socket race.
      keepAliveTimeout: options.keepAliveMs,
      keepAliveMaxTimeout: options.keepAliveMs,
      keepAliveTimeoutThreshold: 0,
      strictContentLength: true,
    });
    this.#pools.set(backendId, { key, pool });
    return pool;
  }

  /**
   * Forgets backends that are no longer configured. Their pools close gracefully: requests
   * already dispatched (by an older runtime) finish first.
   */
  retain(liveBackendIds: ReadonlySet<string>): void {
    for (const [id, entry] of this.#pools) {
      if (!liveBackendIds.has(id)) {
        this.#pools.delete(id);
        void entry.pool.close();
      }
    }
    for (const id of this.#stats.keys()) if (!liveBackendIds.has(id)) this.#stats.delete(id);
  }

  async closeAll(): Promise<void> {
    const closing = [...this.#pools.values()].map((entry) => entry.pool.close());
    this.#pools.clear();
    await Promise.allSettled(closing);
  }
}
