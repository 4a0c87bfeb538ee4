/**
 * Per-worker state that outlives a config swap, keyed by backend id (as Caddy's `Host` table):
 * the counters balancers read, and the upstream connection pools, so keep-alive connections are
 * not thrown away by a reload that did not touch the backend.
 */
import { isIP } from 'node:net';
import { Pool, buildConnector, type Dispatcher } from 'undici';
import { BackendStats } from './backend.js';

export interface UpstreamPoolOptions {
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  readonly keepAliveMs: number;
  readonly maxConnections: number;
  /** For https:// origins. */
  readonly tls: { ca: string | undefined; servername: string | undefined; rejectUnauthorized: boolean };
}


/**
 * A pool to an https:// origin that verifies the backend's own name. undici takes the TLS name
 * (SNI and the name checked against the certificate) from each request's Host header unless the
 * request names one, and a proxy forwards its client's Host: the name verified would be the
 * client's choice, and every change of Host between requests would close the pool's connection
 * ("servername changed"). So every request carries one fixed name, and the connector uses the
 * right one: `pools[].tls.servername`, else the backend's host name, else (an IP address) no SNI
 * and the certificate is checked for that IP.
 */
class TlsUpstreamPool extends Pool {
  readonly #requestName: string;

  constructor(origin: string, poolOptions: Pool.Options, options: UpstreamPoolOptions) {
    const { hostname } = new URL(origin);
    const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
    const servername = options.tls.servername ?? (isIP(host) === 0 ? host : undefined);
    const connector = buildConnector({
      ...(options.tls.ca !== undefined ? { ca: options.tls.ca } : {}),
      rejectUnauthorized: options.tls.rejectUnauthorized,
      timeout: options.connectTimeoutMs,
    });
    super(origin, {
      ...poolOptions,
      // Per connection, not per request. undici offers ALPN http/1.1 itself (its h1 client).
      connect: (connectOptions, callback) => connector({ ...connectOptions, servername: servername as string }, callback),
    });
    this.#requestName = servername ?? host;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    (options as { servername?: string }).servername = this.#requestName;
    return super.dispatch(options, handler);
  }
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
      const poolOptions: Pool.Options = {
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
      };
      pool = origin.startsWith('https:') ? new TlsUpstreamPool(origin, poolOptions, options) : new Pool(origin, poolOptions);
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
