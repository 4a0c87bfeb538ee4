/**
 * What each audience of the feed streams (backends, metrics, status, health) sees of the primary's
 * feed (issue 14, item 2). The rule: no anonymous stream carries what anonymous REST keeps behind a
 * token, and a token scopes a stream as it scopes REST.
 *
 * - Anonymous: instance-wide aggregates only. No backend id or URL (GET /api/backends needs a
 *   viewer), no route or pool names (they name tenants' objects), no alerts (GET /api/alerts needs
 *   a viewer).
 * - A tenant's users: that tenant's routes, pools and backends, by the ownership rules of
 *   tenants.ts that GET /api/backends and /api/status use; instance-wide totals and alerts are for
 *   platform users, as on REST.
 * - Users without a tenant (null): everything.
 */
import type { AiFeed } from '../../shared/ai-api.js';
import type { ApiBackend, ApiFeed, ApiHealth, ApiMetrics, ApiStatus, TrafficSummary } from '../../shared/api-feed.js';
import type { StoredAlert } from '../../shared/rpc.js';
import type { VelofluxConfig } from '../../shared/config/schema.js';
import { ANONYMOUS, type StreamView } from './streams/stream-channel.js';
import { poolTenant } from './tenants.js';

/** How many backends are in which state; what anonymous readers of the backends stream get. */
export interface BackendCounts {
  total: number;
  /** Taking new requests (ApiBackend.available). */
  available: number;
  /** Failing their active health check. */
  unhealthy: number;
  ejected: number;
  draining: number;
}

/** The backends stream's data: counts for everyone, the backends themselves for authenticated users. */
export interface BackendsStreamData {
  counts: BackendCounts;
  backends?: ApiBackend[];
}

export type MetricsStreamData = Omit<ApiMetrics, 'totals'> & { totals: ApiMetrics['totals'] | null; configVersion: number };
export type HealthStreamData = ApiHealth & { alerts?: StoredAlert[] };

/** The routes (by metrics label), pools and backends one tenant owns in one config. */
interface TenantObjects {
  readonly routes: ReadonlySet<string>;
  readonly pools: ReadonlySet<string>;
  readonly backends: ReadonlySet<string>;
}

/**
 * Per config (a frozen snapshot, replaced on every reload), per tenant: computed the first time a
 * tenant's user reads a stream, then reused by every publish until the config changes.
 */
const ownership = new WeakMap<Readonly<VelofluxConfig>, Map<string, TenantObjects>>();

function objectsOf(config: Readonly<VelofluxConfig>, tenant: string): TenantObjects {
  let byTenant = ownership.get(config);
  if (byTenant === undefined) ownership.set(config, (byTenant = new Map()));
  let objects = byTenant.get(tenant);
  if (objects === undefined) {
    const pools = config.pools.filter((p) => poolTenant(config, p.name) === tenant);
    objects = {
      routes: new Set(config.routes.filter((r) => r.tenant === tenant).map((r) => `${r.host}${r.path}`)),
      pools: new Set(pools.map((p) => p.name)),
      backends: new Set(pools.flatMap((p) => p.backends.map((b) => b.id))),
    };
    byTenant.set(tenant, objects);
  }
  return objects;
}

export function backendsView(backends: readonly ApiBackend[], config: Readonly<VelofluxConfig>): StreamView {
  return (audience) => {
    if (audience === ANONYMOUS) return { counts: countBackends(backends) } satisfies BackendsStreamData;
    const visible = audience === null ? [...backends] : backends.filter((b) => objectsOf(config, audience).pools.has(b.pool));
    return { counts: countBackends(visible), backends: visible } satisfies BackendsStreamData;
  };
}

export function metricsView(metrics: ApiMetrics, configVersion: number, config: Readonly<VelofluxConfig>): StreamView {
  return (audience): MetricsStreamData => {
    if (audience === null) return { ...metrics, configVersion };
    if (audience === ANONYMOUS) return { totals: metrics.totals, routes: {}, pools: {}, backends: {}, configVersion };
    const owned = objectsOf(config, audience);
    return { totals: null, routes: pick(metrics.routes, owned.routes), pools: pick(metrics.pools, owned.pools), backends: pick(metrics.backends, owned.backends), configVersion };
  };
}

export function statusView(status: ApiStatus, config: Readonly<VelofluxConfig>): StreamView {
  return (audience): ApiStatus => {
    if (audience === null) return status;
    if (audience === ANONYMOUS) return { ...status, pools: [] };
    const { pools } = objectsOf(config, audience);
    return { ...status, pools: status.pools.filter((p) => pools.has(p.name)) };
  };
}

/** Instance health is for everyone (GET /health is public); the alerts ride along for platform users only. */
export function healthView(feed: Pick<ApiFeed, 'health' | 'alerts'>): StreamView {
  return (audience): HealthStreamData => (audience === null ? { ...feed.health, alerts: feed.alerts } : feed.health);
}

/**
 * The `ai` stream (private: never anonymous): a tenant's users get the anomalies, backend scores
 * and forecasts of their pools and routes only; platform users everything.
 */
export function aiView(ai: AiFeed, config: Readonly<VelofluxConfig>): StreamView {
  return (audience) => {
    if (audience === ANONYMOUS) return undefined;
    if (audience === null) return ai;
    const { pools, routes } = objectsOf(config, audience);
    return {
      active: ai.active.filter((a) => pools.has(a.pool)),
      recent: ai.recent.filter((a) => pools.has(a.pool)),
      backends: ai.backends.filter((b) => pools.has(b.pool)),
      forecasts: ai.forecasts.filter((f) => (f.pool !== undefined && pools.has(f.pool)) || (f.route !== undefined && routes.has(f.route))),
    } satisfies AiFeed;
  };
}

function countBackends(backends: readonly ApiBackend[]): BackendCounts {
  const counts: BackendCounts = { total: backends.length, available: 0, unhealthy: 0, ejected: 0, draining: 0 };
  for (const b of backends) {
    if (b.available) counts.available++;
    if (b.healthy === false) counts.unhealthy++;
    if (b.ejected) counts.ejected++;
    if (b.drain) counts.draining++;
  }
  return counts;
}

function pick(from: Record<string, TrafficSummary>, keep: ReadonlySet<string>): Record<string, TrafficSummary> {
  const out: Record<string, TrafficSummary> = {};
  for (const key of keep) {
    const value = from[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
