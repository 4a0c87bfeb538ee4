/**
 * Everything /metrics shows, from the same counters GET /admin/metrics reads: worker reports
 * (summed with the last reports of exited workers), health checks, ejections, config changes.
 * Names follow the VeloFlux port map (http_*, websocket_*) plus veloflux_* for operators.
 */
import { DURATION_BUCKETS, SIZE_BUCKETS, WORKER_COUNTERS, type CounterSeries, type WorkerCounter } from '../../shared/metrics-report.js';
import type { ConfigController } from '../config/config-controller.js';
import type { HealthChecker } from '../health-checker.js';
import type { OutlierDetector } from '../outlier-detector.js';
import type { Supervisor } from '../supervisor.js';
import type { ClusterMembership } from '../state/cluster-membership.js';
import { backendTotals, clusterTotals } from './aggregate.js';
import { Exposition, type Labels } from './exposition.js';

export interface MetricsSources {
  readonly supervisor: Supervisor;
  readonly controller: ConfigController;
  readonly healthChecker: HealthChecker;
  readonly outliers: OutlierDetector;
  readonly version: string;
  /** This instance among the ones sharing Redis; undefined until the workers are ready. */
  readonly cluster: () => ClusterMembership | undefined;
}

/** One counter family per WORKER_COUNTERS entry, its series labelled by the entry's label names. */
function workerCounterFamilies(series: readonly CounterSeries[]): { name: string; type: 'counter'; help: string; samples: { labels: Labels; value: number }[] }[] {
  return (Object.keys(WORKER_COUNTERS) as WorkerCounter[]).map((counter) => {
    const { name, help, labels } = WORKER_COUNTERS[counter];
    const samples = series
      .filter((s) => s.counter === counter)
      .map((s) => ({ labels: Object.fromEntries(labels.map((label, i) => [label, s.labels[i] ?? ''])), value: s.value }));
    return { name, type: 'counter' as const, help, samples };
  });
}

export function renderMetrics({ supervisor, controller, healthChecker, outliers, version, cluster }: MetricsSources): string {
  const workers = supervisor.workers();
  const live = workers.map((w) => w.stats);
  const { http, websockets } = clusterTotals(live, supervisor.retiredStats);
  const health = new Map(healthChecker.details().map((h) => [h.id, h.healthy]));
  const ejected = outliers.ejected();
  const totals = backendTotals(live);
  const config = controller.config;
  const state = controller.store.status();
  const membership = cluster();

  const backends = config.pools.flatMap((pool) => pool.backends.map((b) => ({ pool: pool.name, backend: b.id })));
  const perBackend = (value: (pool: string, id: string) => number) => backends.map((b) => ({ labels: b, value: value(b.pool, b.backend) }));

  // Websocket lifetimes arrive as cumulative buckets; the exposition wants per-bucket counts.
  const wsBounds = websockets.durationSeconds.buckets.map((b) => b.le);
  const wsCounts = websockets.durationSeconds.buckets.map((b, i, all) => b.count - (i === 0 ? 0 : all[i - 1]!.count));
  wsCounts.push(websockets.durationSeconds.count - (websockets.durationSeconds.buckets.at(-1)?.count ?? 0));

  return new Exposition()
    .family('http_requests_total', 'counter', 'HTTP requests answered, by route, pool, backend, method and status code.',
      http.requests.map((r) => ({ labels: { route: r.route, pool: r.pool, backend: r.backend, method: r.method, code: String(r.code) }, value: r.value })))
    .histogram('http_request_duration_seconds', 'Time from request received to response complete.', DURATION_BUCKETS,
      http.latency.map((l) => ({ labels: { route: l.route, pool: l.pool, backend: l.backend }, histogram: l.duration })))
    .histogram('http_response_size_bytes', 'Response body bytes relayed to the client.', SIZE_BUCKETS,
      http.latency.map((l) => ({ labels: { route: l.route, pool: l.pool, backend: l.backend }, histogram: l.size })))
    .family('websocket_connections_total', 'counter', 'WebSocket tunnels opened (the backend answered a valid 101).', [{ labels: {}, value: websockets.opened }])
    .family('veloflux_websocket_connections_active', 'gauge', 'WebSocket tunnels open now.', [{ labels: {}, value: websockets.active }])
    .histogram('websocket_connection_duration_seconds', 'Lifetime of closed WebSocket tunnels.', wsBounds, [{ labels: {}, histogram: { counts: wsCounts, sum: websockets.durationSeconds.sum, count: websockets.durationSeconds.count } }])
    .family('websocket_messages_sent_total', 'counter', 'WebSocket messages sent to clients (backend to client).', [{ labels: {}, value: websockets.sent.messages }])
    .family('websocket_messages_received_total', 'counter', 'WebSocket messages received from clients (client to backend).', [{ labels: {}, value: websockets.received.messages }])
    .family('veloflux_backend_up', 'gauge', '1 when the backend may take requests: healthy (or unchecked) and not ejected.',
      perBackend((_, id) => ((health.get(id) ?? true) && !ejected.has(id) ? 1 : 0)))
    .family('veloflux_backend_ejected', 'gauge', '1 while passive outlier detection has the backend ejected.', perBackend((_, id) => (ejected.has(id) ? 1 : 0)))
    .family('veloflux_backend_in_flight', 'gauge', 'Requests in flight to the backend, all workers.', perBackend((_, id) => totals.get(id)?.inFlight ?? 0))
    .family('veloflux_upstream_latency_seconds', 'gauge', 'Moving average of the backend response time, weighted by requests per worker.',
      perBackend((_, id) => (totals.get(id)?.ewmaLatencyMs ?? 0) / 1000))
    .families(workerCounterFamilies(http.counters))
    .family('veloflux_config_reloads_total', 'counter', 'Config changes (file reloads and admin API changes), by result.', [
      { labels: { result: 'success' }, value: controller.changeCounts.success },
      { labels: { result: 'failure' }, value: controller.changeCounts.failure },
    ])
    .family('veloflux_config_last_reload_success', 'gauge', '1 when the last config change was applied.', [{ labels: {}, value: controller.changeCounts.lastSucceeded ? 1 : 0 }])
    .family('veloflux_worker_restarts_total', 'counter', 'Workers respawned after dying.', [{ labels: {}, value: supervisor.restarts }])
    .family('veloflux_active_connections', 'gauge', 'Client connections open on the HTTP listener, all workers.', [{ labels: {}, value: live.reduce((n, s) => n + (s?.activeConnections ?? 0), 0) }])
    .family('veloflux_workers', 'gauge', 'Workers serving.', [{ labels: {}, value: workers.filter((w) => w.ready).length }])
    .family('veloflux_state_available', 'gauge', '1 while the state store answers (embedded: always; redis: connected and subscribed).',
      [{ labels: { backend: state.backend }, value: state.available ? 1 : 0 }])
    .family('veloflux_cluster_nodes', 'gauge', 'VeloFlux instances sharing this one\'s state, as last listed (embedded: 1).', membership === undefined ? [] : [{ labels: {}, value: membership.nodeCount }])
    .family('veloflux_config_in_sync', 'gauge', '1 while every instance sharing this one\'s state serves the same dynamic config (ETag), as last listed; 0 when one diverges (see GET /admin/nodes).',
      membership === undefined ? [] : [{ labels: {}, value: membership.inSync ? 1 : 0 }])
    .family('veloflux_cluster_leader', 'gauge', '1 while this instance holds the leader lease for singleton jobs (embedded: always).',
      membership === undefined ? [] : [{ labels: {}, value: membership.isLeader ? 1 : 0 }])
    .family('veloflux_build_info', 'gauge', 'Always 1; the labels carry the version.', [{ labels: { version, node: process.version }, value: 1 }])
    .text();
}
