/**
 * Per-worker state that outlives a config swap, keyed by backend id (as Caddy's `Host` table):
 * the counters balancers read, and the upstream connection pools, so keep-alive connections are
 * not thrown away by a reload that did not touch the backend.
 */
import { BackendStats } from './backend.js';
import { UpstreamPool, type UpstreamPoolOptions } from '../upstream/upstream-pool.js';
import { H2UpstreamPool } from '../upstream/h2-upstream-pool.js';
import type { UpstreamDispatcher } from '../upstream/upstream-call.js';
import type { DeadlineWheel } from '../deadline-wheel.js';

export class BackendRegistry {
  /** The worker's one timer wheel, for the upstream connections' deadlines. */
  readonly #wheel: DeadlineWheel;
  readonly #stats = new Map<string, BackendStats>();
  /** By backend id, origin and options: a changed URL or option set gets a new pool. */
  readonly #pools = new Map<string, UpstreamDispatcher>();

  constructor(wheel: DeadlineWheel) {
    this.#wheel = wheel;
  }

  statsFor(backendId: string): BackendStats {
    let stats = this.#stats.get(backendId);
    if (stats === undefined) {
      stats = new BackendStats();
      this.#stats.set(backendId, stats);
    }
    return stats;
  }

  /**
   * The upstream pool for a backend; a changed URL or option set gets a new pool. Nothing is closed
   * here: a runtime may be built and then discarded (a change another worker refused), and the
   * running one must keep its pools. `retain` closes what the committed runtime no longer uses.
   */
  poolFor(backendId: string, origin: string, options: UpstreamPoolOptions): { key: string; pool: UpstreamDispatcher } {
    const key = `${backendId} ${origin} ${options.connectTimeoutMs} ${options.responseTimeoutMs} ${options.keepAliveMs} ${options.maxConnections} ${JSON.stringify(options.tls)} ${options.addressPolicy?.key ?? ''} ${options.protocol ?? 'http1'}`;
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = options.protocol === 'h2' ? new H2UpstreamPool(origin, options, this.#wheel) : new UpstreamPool(origin, options, this.#wheel);
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
        const deadline = setTimeout(() => pool.destroy(), drainMs).unref();
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
