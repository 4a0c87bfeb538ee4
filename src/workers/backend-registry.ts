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
  /** For https:// origins. */
  readonly tls: { ca: string | undefined; servername: string | undefined; rejectUnauthorized: boolean };
}


export class BackendRegistry {
  readonly #stats = new Map<string, BackendStats>();
  /** By backend id, origin and options: a changed URL or option set gets a new pool. */
  readonly #pools = new Map<string, Pool>();

  statsFor(backendId: string): BackendStats {
    let stats = this.#stats.get(backendId);
    if (stats === undefined) {
      stats = new BackendStats();
      this.#stats.set(backendId, stats);
    }
    return stats;
  }

  /**
   * The undici pool for a backend; a changed URL or option set gets a new pool. Nothing is closed
   * here: a runtime may be built and then discarded (a change another worker refused), and the
   * running one must keep its pools. `retain` closes what the committed runtime no longer uses.
   */
  poolFor(backendId: string, origin: string, options: UpstreamPoolOptions): { key: string; pool: Pool } {
    const key = `${backendId} ${origin} ${options.connectTimeoutMs} ${options.responseTimeoutMs} ${options.keepAliveMs} ${options.maxConnections} ${JSON.stringify(options.tls)}`;
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = new Pool(origin, {
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
        connect: {
          ...(options.tls.ca !== undefined ? { ca: options.tls.ca } : {}),
          ...(options.tls.servername !== undefined ? { servername: options.tls.servername } : {}),
          rejectUnauthorized: options.tls.rejectUnauthorized,
          // Upstreams speak HTTP/1.1 (undici's h1 client); say so in ALPN.
          ALPNProtocols: ['http/1.1'],
        },
      });
      this.#pools.set(key, pool);
    }
    return { key, pool };
  }

  /**
   * Called when a runtime is swapped in: forgets backends and pools it does not use. Their pools
   * drain: requests already dispatched (by an older runtime) may finish within `drainMs`, then
   * whatever is still open is destroyed.
   */
  retain(liveBackendIds: ReadonlySet<string>, livePoolKeys: ReadonlySet<string>, drainMs: number): void {
    for (const [key, pool] of this.#pools) {
      if (!livePoolKeys.has(key)) {
        this.#pools.delete(key);
        const deadline = setTimeout(() => void pool.destroy(), drainMs).unref();
        void pool.close().finally(() => clearTimeout(deadline));
      }
    }
    for (const id of this.#stats.keys()) if (!liveBackendIds.has(id)) this.#stats.delete(id);
  }

  async closeAll(): Promise<void> {
    const closing = [...this.#pools.values()].map((pool) => pool.close());
    this.#pools.clear();
    await Promise.allSettled(closing);
  }
}
