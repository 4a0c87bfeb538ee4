/**
 * Builds the ApiFeed the primary sends every worker once a second (shared/api-feed.ts), from the
 * sources /metrics and the admin API read: the workers' reports summed with the last reports of
 * exited ones (metrics/aggregate.ts), health checks, ejections, the committed config and the
 * cluster's node list. Only reads, never awaits: the node list (a Redis call with Redis) is
 * refreshed in the background every few seconds and the feed carries the last one.
 */
import type { AiFeed } from '../../shared/ai-api.js';
import type { StoredAlert } from '../../shared/rpc.js';
import type { Logger } from '../../shared/log.js';
import type { VelofluxConfig } from '../../shared/config/schema.js';
import type { WorkerStats } from '../../shared/ipc.js';
import type { StateStatus } from '../../shared/state/store.js';
import type { RequestMetricsReport } from '../../shared/metrics-report.js';
import type { ApiBackend, ApiFeed, ApiHealth, ApiMetrics, ApiNode, ApiPoolStatus, TrafficSummary } from '../../shared/api-feed.js';
import type { ClusterMembership } from '../state/cluster-membership.js';
import type { HealthChecker } from '../health-checker.js';
import type { OutlierDetector } from '../outlier-detector.js';
import type { WorkerView } from '../supervisor.js';
import { backendTotals, clusterTotals } from '../metrics/aggregate.js';
import { addCounts, latencyPercentilesMs } from './latency-quantiles.js';
import { RealtimeHistory, REALTIME_INTERVAL_MS } from './realtime-history.js';

/** How often the cluster's node list is read again (a Redis round trip with Redis). */
export const NODES_REFRESH_MS = 5000;

/** What the builder reads; the real Supervisor, ConfigController, HealthChecker and OutlierDetector fit. */
export interface ApiFeedSources {
  readonly supervisor: {
    workers(): WorkerView[];
    readonly retiredStats: readonly WorkerStats[];
    readonly committed: { readonly version: number };
    readonly expectedWorkers: number;
  };
  readonly controller: { readonly config: Readonly<VelofluxConfig>; readonly store: { status(): StateStatus } };
  readonly healthChecker: Pick<HealthChecker, 'details'>;
  readonly outliers: Pick<OutlierDetector, 'ejected' | 'details'>;
  /** This instance among the ones sharing Redis; undefined until the workers are ready. */
  readonly cluster: () => ClusterMembership | undefined;
  /** VeloFlux version. */
  readonly version: string;
  /** When this instance started, ms since epoch. */
  readonly startedAt: number;
  /** Where a failed tick or node listing is reported. */
  readonly log?: Logger;
  /** The newest alerts Alertmanager sent (pushed on the health stream). */
  readonly alerts?: () => StoredAlert[];
  /** The `ai` part (anomalies, adaptive scores, forecast vs actual), given this tick's backends. */
  readonly ai?: (backends: readonly ApiBackend[]) => AiFeed;
}

export class ApiFeedBuilder {
  readonly #sources: ApiFeedSources;
  readonly #history = new RealtimeHistory();
  #nodes: ApiNode[] = [];
  #leader: string | null = null;
  #nodesListedAt = -Infinity;
  #listingNodes = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(sources: ApiFeedSources) {
    this.#sources = sources;
  }

  /** Builds a feed now and every `intervalMs` (default 1 s) and hands each to `send` (the IPC broadcast). */
  start(send: (feed: ApiFeed) => void, intervalMs = REALTIME_INTERVAL_MS): void {
    if (this.#timer !== undefined) return;
    const tick = () => {
      let feed: ApiFeed;
      try {
        feed = this.build(Date.now());
      } catch (err) {
        this.#sources.log?.error({ err }, 'could not build the API feed; skipping this tick');
        return;
      }
      send(feed);
    };
    this.#timer = setInterval(tick, intervalMs);
    this.#timer.unref();
    tick();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One feed; also adds this second to the realtime history, so call it once per second. */
  build(now: number = Date.now()): ApiFeed {
    const { supervisor, controller, healthChecker, outliers, cluster, version, startedAt } = this.#sources;
    const workers = supervisor.workers();
    const live = workers.map((w) => w.stats);
    const { http, websockets } = clusterTotals(live, supervisor.retiredStats);
    const traffic = summariseTraffic(http);
    const activeConnections = live.reduce((n, s) => n + (s?.activeConnections ?? 0), 0);
    this.#history.record({
      at: now,
      requests: traffic.total.requests,
      errors5xx: traffic.total.errors5xx,
      errors4xx: traffic.total.errors4xx,
      bytes: traffic.total.bytesOut,
      duration: traffic.total.duration,
      activeConnections,
      activeWebSockets: websockets.active,
    });

    const config = controller.config;
    const configVersion = supervisor.committed.version;
    const checks = new Map(healthChecker.details().map((h) => [h.id, h]));
    const ejected = outliers.ejected();
    const ejections = new Map(outliers.details().map((e) => [e.id, e.ejectionsTotal]));
    const liveBackends = backendTotals(live);
    const backends: ApiBackend[] = [];
    const pools: ApiPoolStatus[] = [];
    for (const pool of config.pools) {
      let healthyCount = 0;
      for (const b of pool.backends) {
        const check = checks.get(b.id);
        const healthy = check?.healthy ?? null;
        const isEjected = ejected.has(b.id);
        const up = healthy !== false && !isEjected;
        if (up) healthyCount++;
        const counters = liveBackends.get(b.id);
        backends.push({
          id: b.id,
          pool: pool.name,
          url: b.url,
          weight: b.weight,
          drain: b.drain,
          healthy,
          ejected: isEjected,
          // As the workers decide (Backend.available), with ejections applied as the primary sends them.
          available: up && !b.drain && b.weight > 0,
          inFlight: counters?.inFlight ?? 0,
          ewmaLatencyMs: Math.round((counters?.ewmaLatencyMs ?? 0) * 100) / 100,
          requests: traffic.backends.get(b.id)?.requests ?? 0,
          lastCheck: check?.lastProbe ?? null,
          ejections: ejections.get(b.id) ?? 0,
        });
      }
      pools.push({ name: pool.name, algorithm: pool.algorithm, backends: pool.backends.length, healthy: healthyCount });
    }

    const membership = cluster();
    this.#refreshNodes(membership, now);
    const metrics: ApiMetrics = {
      totals: {
        ...summary(traffic.total),
        websockets: { active: websockets.active, opened: websockets.opened, messagesReceived: websockets.received.messages, messagesSent: websockets.sent.messages },
      },
      routes: summaries(traffic.routes),
      pools: summaries(traffic.pools),
      backends: summaries(traffic.backends),
    };
    return {
      ts: now,
      configVersion,
      metrics,
      realtime: this.#history.columns(),
      backends,
      status: {
        uptimeSeconds: Math.max(0, Math.round((now - startedAt) / 1000)),
        version,
        configVersion,
        nodeId: membership?.nodeId ?? null,
        nodes: this.#nodes,
        leader: this.#leader,
        pools,
      },
      health: instanceHealth(workers, supervisor.expectedWorkers, controller.store.status(), configVersion),
      alerts: this.#sources.alerts?.() ?? [],
      ...(this.#sources.ai !== undefined ? { ai: this.#sources.ai(backends) } : {}),
    };
  }

  /** Starts a new listing when the last one is old enough; the feed keeps the previous list meanwhile. */
  #refreshNodes(membership: ClusterMembership | undefined, now: number): void {
    if (membership === undefined || this.#listingNodes || now - this.#nodesListedAt < NODES_REFRESH_MS) return;
    this.#listingNodes = true;
    this.#nodesListedAt = now;
    Promise.all([membership.nodes(), membership.leader()]).then(
      ([nodes, leader]) => {
        this.#nodes = nodes.map((n) => ({ id: n.id, address: n.address, version: n.version, started: n.started, lastSeen: n.lastSeen, self: n.self }));
        this.#leader = leader ?? null;
        this.#listingNodes = false;
      },
      (err: unknown) => {
        // Redis away: the last list stays, as /metrics keeps the last node count.
        this.#sources.log?.debug({ err: (err as Error).message }, 'could not list the cluster nodes for the API feed');
        this.#listingNodes = false;
      },
    );
  }
}

/** Instance health as GET /admin/health answers it: up while a worker serves, degraded while the state store is away. */
export function instanceHealth(workers: readonly Pick<WorkerView, 'ready'>[], expected: number, state: StateStatus, configVersion: number): ApiHealth {
  const ready = workers.filter((w) => w.ready).length;
  return {
    status: ready > 0 ? (state.available ? 'up' : 'degraded') : 'down',
    workers: { ready, alive: workers.length, expected },
    state: { backend: state.backend, available: state.available, since: state.since },
    configVersion,
  };
}

/** Counters of one route, pool, backend or of everything, while they are added up. */
interface Tally {
  requests: number;
  errors5xx: number;
  errors4xx: number;
  bytesOut: number;
  /** Duration histogram per bucket. */
  duration: number[];
}

interface Traffic {
  total: Tally;
  routes: Map<string, Tally>;
  pools: Map<string, Tally>;
  backends: Map<string, Tally>;
}

/**
 * Cluster request counters by route, pool and backend. Series with an empty label (answered by
 * VeloFlux before a route, pool or backend was chosen) count in the total only.
 */
function summariseTraffic(http: RequestMetricsReport): Traffic {
  const traffic: Traffic = { total: tally(), routes: new Map(), pools: new Map(), backends: new Map() };
  const each = (route: string, pool: string, backend: string, add: (t: Tally) => void) => {
    add(traffic.total);
    if (route !== '') add(tallyOf(traffic.routes, route));
    if (pool !== '') add(tallyOf(traffic.pools, pool));
    if (backend !== '') add(tallyOf(traffic.backends, backend));
  };
  for (const r of http.requests) {
    const is5xx = r.code >= 500 && r.code <= 599;
    const is4xx = r.code >= 400 && r.code <= 499;
    each(r.route, r.pool, r.backend, (t) => {
      t.requests += r.value;
      if (is5xx) t.errors5xx += r.value;
      if (is4xx) t.errors4xx += r.value;
    });
  }
  for (const l of http.latency) {
    each(l.route, l.pool, l.backend, (t) => {
      t.bytesOut += l.size.sum;
      addCounts(t.duration, l.duration.counts);
    });
  }
  return traffic;
}

const tally = (): Tally => ({ requests: 0, errors5xx: 0, errors4xx: 0, bytesOut: 0, duration: [] });

function tallyOf(map: Map<string, Tally>, key: string): Tally {
  let t = map.get(key);
  if (t === undefined) map.set(key, (t = tally()));
  return t;
}

function summary(t: Tally): TrafficSummary {
  return { requests: t.requests, errors5xx: t.errors5xx, errors4xx: t.errors4xx, bytesOut: t.bytesOut, ...latencyPercentilesMs(t.duration) };
}

function summaries(map: Map<string, Tally>): Record<string, TrafficSummary> {
  const out: Record<string, TrafficSummary> = {};
  for (const [key, t] of map) out[key] = summary(t);
  return out;
}
