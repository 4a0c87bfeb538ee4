/**
 * Routes & pools: the routing table in force (in match order) and each pool's algorithm, health
 * check, retries and the rest of its settings, from GET /api/routes and /api/pools. Settings the
 * page does not know by name are still shown, as the API gives them.
 */
import { Fragment } from 'react';
import type { PoolView, RouteView } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { describeError } from '../api/http.js';
import { Empty, ErrorMessage, Loading } from '../components/states.js';
import { formatDurationMs, settingName } from '../format.js';

const ROUTE_COLUMNS = new Set(['host', 'path', 'pool', 'tenant', 'rateLimit']);
const POOL_SHOWN = new Set(['name', 'algorithm', 'backends', 'healthCheck', 'retries']);

/** Settings the API gives in milliseconds (src/workers/api/routes/routing-routes.ts: "durations are milliseconds"). */
function isDuration(key: string, parent: string): boolean {
  return key.endsWith('Ms') || parent.endsWith('Ms') || key === 'interval' || key === 'timeout' || key.endsWith('Time');
}

/** A setting as a short line: objects as `name: value` pairs, durations with their unit. */
export function describeValue(value: unknown, key = ''): string {
  if (value === null || value === undefined) return '–';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.map((v) => describeValue(v)).join(', ');
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return '–';
    return entries
      .map(([k, v]) => {
        const text = typeof v === 'number' && isDuration(k, key) ? formatDurationMs(v) : describeValue(v, k);
        return `${settingName(k).toLowerCase()}: ${typeof v === 'object' && v !== null && !Array.isArray(v) ? `(${text})` : text}`;
      })
      .join(', ');
  }
  if (typeof value === 'number' && isDuration(key, '')) return formatDurationMs(value);
  return String(value);
}

/** Flags that are on (true or set), by name; off and unset ones are left out. */
function flagsOf(route: RouteView): string[] {
  return Object.entries(route)
    .filter(([key, value]) => !ROUTE_COLUMNS.has(key) && value !== false && value !== null && value !== undefined && value !== 'off')
    .map(([key, value]) => (value === true ? settingName(key) : `${settingName(key)}: ${describeValue(value, key)}`));
}

export function RoutesPage() {
  const routes = useApi<{ routes: RouteView[]; configVersion?: number }>('/api/routes');
  const pools = useApi<{ pools: PoolView[]; configVersion?: number }>('/api/pools');
  return (
    <>
      <div className="page-head">
        <h1>Routes &amp; pools</h1>
        {routes.data?.configVersion !== undefined && <span className="muted">config version {routes.data.configVersion}</span>}
      </div>
      <section className="panel" aria-labelledby="routes-heading">
        <div className="panel-head">
          <h2 id="routes-heading">Routes</h2>
          <span className="muted">hosts: exact, then *.suffix, then *; within a host the longest path prefix wins</span>
        </div>
        {routes.error !== undefined ? (
          <ErrorMessage onRetry={routes.reload}>Could not read the routes: {describeError(routes.error)}</ErrorMessage>
        ) : routes.data === undefined ? (
          <Loading what="routes" />
        ) : routes.data.routes.length === 0 ? (
          <Empty>No routes: every request is answered 404 by VeloFlux.</Empty>
        ) : (
          <div className="table-scroll" tabIndex={0} role="region" aria-label="Routes">
            <table>
              <thead>
                <tr>
                  <th scope="col">Host</th>
                  <th scope="col">Path</th>
                  <th scope="col">Pool</th>
                  <th scope="col">Tenant</th>
                  <th scope="col">Rate limit</th>
                  <th scope="col">Flags</th>
                </tr>
              </thead>
              <tbody>
                {routes.data.routes.map((route, i) => (
                  <tr key={`${route.host}${route.path}${i}`}>
                    <td>
                      <code>{route.host}</code>
                    </td>
                    <td>
                      <code>{route.path}</code>
                    </td>
                    <td>{route.pool}</td>
                    <td>{route.tenant ?? <span className="muted">–</span>}</td>
                    <td>{route.rateLimit == null ? <span className="muted">none</span> : describeValue(route.rateLimit, 'rateLimit')}</td>
                    <td>
                      {flagsOf(route).length === 0 ? (
                        <span className="muted">–</span>
                      ) : (
                        flagsOf(route).map((flag) => (
                          <span key={flag} className="tag">
                            {flag}
                          </span>
                        ))
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <section aria-labelledby="pools-heading">
        <h2 id="pools-heading">Pools</h2>
        {pools.error !== undefined ? (
          <ErrorMessage onRetry={pools.reload}>Could not read the pools: {describeError(pools.error)}</ErrorMessage>
        ) : pools.data === undefined ? (
          <Loading what="pools" />
        ) : pools.data.pools.length === 0 ? (
          <Empty>No pools are configured.</Empty>
        ) : (
          <div className="pool-cards">
            {pools.data.pools.map((pool) => (
              <article key={pool.name} className="panel" aria-labelledby={`pool-card-${pool.name}`}>
                <h3 id={`pool-card-${pool.name}`}>
                  <code>{pool.name}</code>
                </h3>
                <dl className="facts">
                  <dt>Algorithm</dt>
                  <dd>{pool.algorithm}</dd>
                  <dt>Backends</dt>
                  <dd>{pool.backends.length}</dd>
                  <dt>Health check</dt>
                  <dd>{pool.healthCheck == null ? 'none (passive checks only)' : describeValue(pool.healthCheck, 'healthCheck')}</dd>
                  <dt>Retries</dt>
                  <dd>{describeValue(pool.retries)}</dd>
                  {Object.entries(pool)
                    .filter(([key, value]) => !POOL_SHOWN.has(key) && value !== undefined)
                    .map(([key, value]) => (
                      <Fragment key={key}>
                        <dt>{settingName(key)}</dt>
                        <dd>{describeValue(value, key)}</dd>
                      </Fragment>
                    ))}
                </dl>
              </article>
            ))}
          </div>
        )}
      </section>
    </>
  );
}
