/**
 * The ApiFeed built from worker reports (literals, as workers send them), a real HealthChecker
 * probing local servers, a real OutlierDetector, the validated config and a fake of the
 * supervisor's read-only surface: per-route, per-pool and per-backend numbers and percentiles
 * match the inputs, backend state combines checks, ejections, drain and weight, status and
 * health read as /admin/health does, and the node list is read in the background every 5 s.
 */
import t from 'tap';
import { pino } from 'pino';
import { ApiFeedBuilder, instanceHealth, type ApiFeedSources } from '../../../src/primary/api-feed/feed-builder.js';
import { HealthChecker } from '../../../src/primary/health-checker.js';
import { OutlierDetector } from '../../../src/primary/outlier-detector.js';
import type { ClusterMembership } from '../../../src/primary/state/cluster-membership.js';
import type { WorkerView } from '../../../src/primary/supervisor.js';
import { validateConfig } from '../../../src/shared/config/load.js';
import type { WorkerStats, WebSocketStatsReport } from '../../../src/shared/ipc.js';
import type { LatencySeries, RequestSeries } from '../../../src/shared/metrics-report.js';
import { DURATION_BUCKETS, SIZE_BUCKETS } from '../../../src/shared/metrics-report.js';
import type { StateStatus } from '../../../src/shared/state/store.js';
import type { NodeInfo } from '../../../src/shared/state/node-registry.js';
import { closedPort, startUpstream } from '../../helpers/upstream.js';
import { waitFor } from '../../helpers/processes.js';

const silent = pino({ level: 'silent' });
const NOW = Date.parse('2025-03-01T12:00:00Z');
const tick = () => new Promise((r) => setImmediate(r));

const durations = (byIndex: Record<number, number>) => Array.from({ length: DURATION_BUCKETS.length + 1 }, (_, i) => byIndex[i] ?? 0);

function latency(route: string, pool: string, backend: string, byIndex: Record<number, number>, bytes: number): LatencySeries {
  const counts = durations(byIndex);
  const count = counts.reduce((a, b) => a + b, 0);
  const size = new Array<number>(SIZE_BUCKETS.length + 1).fill(0);
  size[1] = count;
  return { route, pool, backend, duration: { counts, sum: 0, count }, size: { counts: size, sum: bytes, count } };
}

const request = (route: string, pool: string, backend: string, method: string, code: number, value: number): RequestSeries => ({ route, pool, backend, method, code, value });

function websockets(fields: Partial<WebSocketStatsReport> = {}): WebSocketStatsReport {
  return { opened: 0, active: 0, closed: 0, durationSeconds: { sum: 0, count: 0, buckets: [] }, received: { messages: 0, bytes: 0 }, sent: { messages: 0, bytes: 0 }, ...fields };
}

function stats(fields: Partial<WorkerStats> & { series?: RequestSeries[]; latency?: LatencySeries[] }): WorkerStats {
  const { series = [], latency: latencySeries = [], ...rest } = fields;
  return {
    configVersion: 7,
    requests: series.reduce((n, r) => n + r.value, 0),
    activeConnections: 0,
    rssBytes: 50_000_000,
    heapUsedBytes: 20_000_000,
    eventLoopLagMs: { mean: 0, p99: 0, max: 0 },
    backends: [],
    websockets: websockets(),
    http: { requests: series, latency: latencySeries, counters: [] },
    ...rest,
  };
}

const worker = (id: number, ready: boolean, s: WorkerStats | undefined): WorkerView => ({ id, pid: 1000 + id, ready, uptimeMs: 10_000, stats: s });

function fakeMembership(nodes: () => Promise<NodeInfo[]>): ClusterMembership {
  return { nodeId: 'node-a', isLeader: true, nodeCount: 1, nodes, leader: async () => 'node-a', stop: async () => {} };
}

t.test('metrics, backends, status and health from the workers, checks, ejections and config', async (t) => {
  const up = await startUpstream((_req, res) => res.end('ok'));
  const down = await closedPort();
  const config = validateConfig(
    {
      server: { workers: 3 },
      pools: [
        {
          name: 'web',
          healthCheck: { interval: '10s', timeout: '1s' },
          outlierDetection: { consecutiveFailures: 1, baseEjectionTime: '10s', maxEjectionPercent: 100 },
          backends: [
            { id: 'w1', url: up.url },
            { id: 'w2', url: `http://127.0.0.1:${down}` },
            { id: 'w3', url: up.url },
          ],
        },
        {
          name: 'api',
          algorithm: 'least_conn',
          backends: [
            { id: 'a1', url: 'http://127.0.0.1:9', weight: 2 },
            { id: 'a2', url: 'http://127.0.0.1:10', drain: true },
          ],
        },
      ],
      routes: [
        { path: '/', pool: 'web' },
        { path: '/api/', pool: 'api' },
      ],
    },
    'test',
    {},
  );
  const healthChecker = new HealthChecker(silent, () => {});
  const outliers = new OutlierDetector(silent, () => {});
  t.teardown(async () => {
    healthChecker.stop();
    outliers.stop();
    await up.close();
  });
  healthChecker.update(config);
  outliers.update(config);
  await waitFor(() => healthChecker.details().every((h) => h.lastProbe !== undefined), 5000, 'the first probes');
  outliers.report('w3', 5);

  const worker1 = stats({
    activeConnections: 3,
    series: [
      request('*/', 'web', 'w1', 'GET', 200, 80),
      request('*/', 'web', 'w1', 'POST', 502, 5),
      request('*/api/', 'api', 'a1', 'GET', 200, 40),
      // Rate limited on the route: no backend was chosen.
      request('*/api/', 'api', '', 'GET', 429, 4),
      // Answered by VeloFlux before routing: counts in the totals only.
      request('', '', '', 'GET', 404, 6),
    ],
    latency: [
      latency('*/', 'web', 'w1', { 1: 40, 2: 40, 6: 5 }, 85_000),
      latency('*/api/', 'api', 'a1', { 0: 40 }, 4_000),
      latency('*/api/', 'api', '', { 0: 4 }, 0),
      latency('', '', '', { 0: 6 }, 0),
    ],
    backends: [
      { id: 'w1', pool: 'web', inFlight: 2, requests: 85, ewmaLatencyMs: 12, consecutiveFailures: 0 },
      { id: 'a1', pool: 'api', inFlight: 1, requests: 40, ewmaLatencyMs: 30, consecutiveFailures: 0 },
    ],
    websockets: websockets({ opened: 5, active: 2, closed: 3, received: { messages: 10, bytes: 100 }, sent: { messages: 12, bytes: 120 } }),
  });
  const worker2 = stats({
    activeConnections: 1,
    series: [request('*/', 'web', 'w1', 'GET', 200, 25), request('*/', 'web', 'w2', 'GET', 503, 10)],
    latency: [latency('*/', 'web', 'w1', { 2: 25 }, 20_000), latency('*/', 'web', 'w2', { 3: 10 }, 1_000)],
    backends: [
      { id: 'w1', pool: 'web', inFlight: 1, requests: 25, ewmaLatencyMs: 20, consecutiveFailures: 0 },
      { id: 'w2', pool: 'web', inFlight: 0, requests: 10, ewmaLatencyMs: 100, consecutiveFailures: 4 },
    ],
  });
  // A worker that exited: its counters still count, its open tunnels do not.
  const retired = stats({
    series: [request('*/api/', 'api', 'a1', 'GET', 200, 60)],
    latency: [latency('*/api/', 'api', 'a1', { 3: 60 }, 6_000)],
    websockets: websockets({ opened: 4, active: 1, received: { messages: 3, bytes: 30 }, sent: { messages: 4, bytes: 40 } }),
  });

  let state: StateStatus = { backend: 'redis', available: true, since: '2025-03-01T11:00:00.000Z' };
  let workers = [worker(1, true, worker1), worker(2, true, worker2), worker(3, false, undefined)];
  let listings = 0;
  const membership = fakeMembership(async () => {
    listings++;
    return [{ id: 'node-a', address: 'host-a:80', version: '1.2.3', started: '2025-03-01T11:00:00.000Z', lastSeen: '2025-03-01T11:59:59.000Z', self: true }];
  });
  const sources: ApiFeedSources = {
    supervisor: { workers: () => workers, retiredStats: [retired], committed: { version: 7 }, expectedWorkers: 3 },
    controller: { config, store: { status: () => state } },
    healthChecker,
    outliers,
    cluster: () => membership,
    version: '1.2.3',
    startedAt: NOW - 42_000,
  };
  const builder = new ApiFeedBuilder(sources);
  const feed = builder.build(NOW);

  t.equal(feed.ts, NOW);
  t.equal(feed.configVersion, 7);
  const { metrics } = feed;
  // Totals: 80+5+40+4+6 + 25+10 + 60 requests; 5xx: 5 + 10; 4xx: 429s and 404s.
  t.match(metrics.totals, { requests: 230, errors5xx: 15, errors4xx: 10, bytesOut: 116_000 });
  t.same(metrics.totals.websockets, { active: 2, opened: 9, messagesReceived: 13, messagesSent: 16 });
  t.same(Object.keys(metrics.routes).sort(), ['*/', '*/api/'], 'no series for the empty label');
  t.same(Object.keys(metrics.backends).sort(), ['a1', 'w1', 'w2']);
  t.same(Object.keys(metrics.pools).sort(), ['api', 'web']);

  // Route */: w1 (40 in 5-10 ms, 65 in 10-25 ms, 5 in 250-500 ms) and w2 (10 in 25-50 ms): 120 requests.
  // p50: rank 60 in (10, 25] with 40 below: 10 + 15 x 20/65 = 14.615 ms.
  // p95: rank 114 in (25, 50] with 105 below: 25 + 25 x 9/10 = 47.5 ms.
  // p99: rank 118.8 in (250, 500] with 115 below: 250 + 250 x 3.8/5 = 440 ms.
  t.same(metrics.routes['*/'], { requests: 120, errors5xx: 15, errors4xx: 0, bytesOut: 106_000, p50Ms: 14.62, p95Ms: 47.5, p99Ms: 440 });
  // Route */api/ and pool api: a1 (40 in 0-5 ms, 60 in 25-50 ms) and the 4 rate-limited (0 ms): 104.
  // p50: rank 52 in (25, 50] with 44 below: 25 + 25 x 8/60 = 28.333 ms; p95: rank 98.8: 25 + 25 x 54.8/60 = 47.833 ms.
  const api = { requests: 104, errors5xx: 0, errors4xx: 4, bytesOut: 10_000, p50Ms: 28.33, p95Ms: 47.83, p99Ms: 49.57 };
  t.same(metrics.routes['*/api/'], api);
  t.same(metrics.pools.api, api);
  t.same(metrics.pools.web, metrics.routes['*/']);
  // w1 alone, 110 requests: p50: rank 55 in (10, 25] with 40 below: 10 + 15 x 15/65 = 13.462 ms.
  // p95: rank 104.5 in (10, 25]: 10 + 15 x 64.5/65 = 24.885 ms; p99: rank 108.9 in (250, 500] with 105 below: 445 ms.
  t.same(metrics.backends.w1, { requests: 110, errors5xx: 5, errors4xx: 0, bytesOut: 105_000, p50Ms: 13.46, p95Ms: 24.88, p99Ms: 445 });
  // a1: 100 requests across a live and an exited worker; p50: rank 50 in (25, 50] with 40 below: 29.167 ms.
  t.match(metrics.backends.a1, { requests: 100, errors4xx: 0, bytesOut: 10_000, p50Ms: 29.17 });
  t.match(metrics.backends.w2, { requests: 10, errors5xx: 10, p50Ms: 37.5 });

  const byId = new Map(feed.backends.map((b) => [b.id, b]));
  t.same(feed.backends.map((b) => b.id), ['w1', 'w2', 'w3', 'a1', 'a2'], 'in config order');
  // Weighted by requests per worker: (12 x 85 + 20 x 25) / 110.
  const { lastCheck: w1Check, ...w1 } = byId.get('w1')!;
  t.same(w1, { id: 'w1', pool: 'web', url: up.url, weight: 1, drain: false, healthy: true, ejected: false, available: true, inFlight: 3, ewmaLatencyMs: 13.82, requests: 110, ejections: 0 });
  t.match(w1Check, { ok: true, status: 200, at: String }, "the last probe's result and time");
  t.match(byId.get('w2'), { healthy: false, ejected: false, available: false, inFlight: 0, ewmaLatencyMs: 100, requests: 10, lastCheck: { ok: false, error: String } });
  t.match(byId.get('w3'), { healthy: true, ejected: true, available: false, inFlight: 0, requests: 0, ejections: 1 });
  t.match(byId.get('a1'), { pool: 'api', weight: 2, healthy: null, ejected: false, available: true, inFlight: 1, requests: 100, lastCheck: null, ejections: 0 });
  t.match(byId.get('a2'), { drain: true, healthy: null, available: false }, 'drained: no new requests');

  t.same(feed.status.pools, [
    { name: 'web', algorithm: 'round_robin', backends: 3, healthy: 1 },
    { name: 'api', algorithm: 'least_conn', backends: 2, healthy: 2 },
  ]);
  t.match(feed.status, { uptimeSeconds: 42, version: '1.2.3', configVersion: 7, nodeId: 'node-a' });
  t.same(feed.status.nodes, [], 'the first listing is still in flight: the tick never waits for it');
  t.equal(feed.status.leader, null, 'nor for the leader');
  t.same(feed.health, { status: 'up', workers: { ready: 2, alive: 3, expected: 3 }, state: { backend: 'redis', available: true, since: '2025-03-01T11:00:00.000Z' }, configVersion: 7 });
  t.same(feed.realtime.ts, [], 'one sample is only the baseline');

  // One second later: 50 more requests on w1 in (5, 10 ms], 1000 more bytes; the state store is away.
  worker1.http.requests[0]!.value += 50;
  worker1.http.latency[0]!.duration.counts[1]! += 50;
  worker1.http.latency[0]!.size.sum += 1000;
  state = { backend: 'redis', available: false, since: '2025-03-01T12:00:00.500Z' };
  await tick();
  const next = builder.build(NOW + 1000);
  t.same(next.realtime.ts, [NOW + 1000]);
  t.same(next.realtime.requests, [50]);
  t.equal(next.status.leader, 'node-a', 'the leader read with the node list');
  // 50 requests, all in (5, 10] ms: p95 at rank 47.5 of 50: 5 + 5 x 47.5/50 = 9.75 ms.
  t.same(next.realtime.p95Ms, [9.75]);
  t.same(next.realtime.bytes, [1000]);
  t.same(next.realtime.p50Ms, [7.5], 'from this second alone: 50 in (5, 10 ms]');
  t.same(next.realtime.activeConnections, [4]);
  t.same(next.realtime.activeWebSockets, [2]);
  t.equal(next.metrics.totals.requests, 280);
  t.equal(next.health.status, 'degraded', 'state store away: still serving, degraded');
  t.same(next.status.nodes.map((n) => n.id), ['node-a'], 'the listing from the previous tick');
  t.equal(listings, 1);
  for (let s = 2; s < 5; s++) builder.build(NOW + s * 1000);
  t.equal(listings, 1, 'not listed again within 5 s');
  builder.build(NOW + 5000);
  t.equal(listings, 2, 'listed again after 5 s');

  workers = [worker(3, false, undefined)];
  t.equal(builder.build(NOW + 6000).health.status, 'down', 'no worker serving');
});

t.test('before the cluster is joined, and when listing nodes fails, the feed still builds', async (t) => {
  const config = validateConfig({ server: { workers: 1 }, pools: [{ name: 'web', backends: [{ id: 'w1', url: 'http://127.0.0.1:9' }] }], routes: [{ path: '/', pool: 'web' }] }, 'test', {});
  let membership: ClusterMembership | undefined;
  const builder = new ApiFeedBuilder({
    supervisor: { workers: () => [worker(1, true, undefined)], retiredStats: [], committed: { version: 1 }, expectedWorkers: 1 },
    controller: { config, store: { status: () => ({ backend: 'embedded', available: true, since: '2025-03-01T11:00:00.000Z' }) } },
    healthChecker: new HealthChecker(silent, () => {}),
    outliers: new OutlierDetector(silent, () => {}),
    cluster: () => membership,
    version: '1.2.3',
    startedAt: NOW,
    log: silent,
  });
  const first = builder.build(NOW);
  t.match(first.status, { nodeId: null, nodes: [], uptimeSeconds: 0 });
  t.match(first.metrics.totals, { requests: 0, errors5xx: 0, p50Ms: null, p95Ms: null, p99Ms: null });
  t.same(first.backends[0], { id: 'w1', pool: 'web', url: 'http://127.0.0.1:9', weight: 1, drain: false, healthy: null, ejected: false, available: true, inFlight: 0, ewmaLatencyMs: 0, requests: 0, lastCheck: null, ejections: 0 });
  membership = fakeMembership(() => Promise.reject(new Error('redis down')));
  builder.build(NOW + 1000);
  await tick();
  t.same(builder.build(NOW + 2000).status.nodes, [], 'a failed listing keeps the last list (none yet)');
});

t.test('instanceHealth answers as GET /admin/health', async (t) => {
  const state: StateStatus = { backend: 'embedded', available: true, since: 'x' };
  t.equal(instanceHealth([{ ready: true }], 1, state, 1).status, 'up');
  t.equal(instanceHealth([{ ready: true }], 1, { ...state, available: false }, 1).status, 'degraded');
  t.equal(instanceHealth([{ ready: false }], 1, state, 1).status, 'down');
  t.same(instanceHealth([], 2, state, 3).workers, { ready: 0, alive: 0, expected: 2 });
});

t.test('start() sends a feed at once and every interval until stop()', async (t) => {
  const config = validateConfig({ server: { workers: 1 }, pools: [{ name: 'web', backends: [{ id: 'w1', url: 'http://127.0.0.1:9' }] }], routes: [{ path: '/', pool: 'web' }] }, 'test', {});
  const builder = new ApiFeedBuilder({
    supervisor: { workers: () => [], retiredStats: [], committed: { version: 1 }, expectedWorkers: 1 },
    controller: { config, store: { status: () => ({ backend: 'embedded', available: true, since: 'x' }) } },
    healthChecker: new HealthChecker(silent, () => {}),
    outliers: new OutlierDetector(silent, () => {}),
    cluster: () => undefined,
    version: '1.2.3',
    startedAt: Date.now(),
  });
  const sent: number[] = [];
  builder.start((feed) => sent.push(feed.ts), 40);
  t.equal(sent.length, 1, 'the first feed goes out at once');
  await new Promise((r) => setTimeout(r, 150));
  builder.stop();
  const count = sent.length;
  t.ok(count >= 3, `a feed per interval (${count})`);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(sent.length, count, 'none after stop()');
});

t.test('size: 3 pools x 3 backends, 5 routes, 60 realtime points, two workers', async (t) => {
  const pools = ['web', 'api', 'static'];
  const config = validateConfig(
    {
      server: { workers: 2 },
      pools: pools.map((name, p) => ({ name, backends: [1, 2, 3].map((i) => ({ id: `${name}-${i}`, url: `http://10.0.${p}.${i}:8080` })) })),
      routes: [
        { path: '/', pool: 'web' },
        { host: 'www.example.com', path: '/', pool: 'web' },
        { path: '/api/', pool: 'api' },
        { path: '/api/v2/', pool: 'api' },
        { path: '/static/', pool: 'static' },
      ],
    },
    'test',
    {},
  );
  const labels = config.routes.map((r) => ({ route: `${r.host}${r.path}`, pool: r.pool }));
  // Every route reaches every backend of its pool with GET/POST and a few status codes.
  const report = (scale: number): WorkerStats =>
    stats({
      activeConnections: 40,
      series: labels.flatMap(({ route, pool }) =>
        [1, 2, 3].flatMap((i) => [request(route, pool, `${pool}-${i}`, 'GET', 200, 1000 * scale), request(route, pool, `${pool}-${i}`, 'POST', 201, 100 * scale), request(route, pool, `${pool}-${i}`, 'GET', 404, 7 * scale), request(route, pool, `${pool}-${i}`, 'GET', 502, scale)]),
      ),
      latency: labels.flatMap(({ route, pool }) => [1, 2, 3].map((i) => latency(route, pool, `${pool}-${i}`, { 1: 300 * scale, 2: 600 * scale, 3: 200 * scale, 5: 8 * scale }, 2_345_678 * scale))),
      backends: pools.flatMap((pool) => [1, 2, 3].map((i) => ({ id: `${pool}-${i}`, pool, inFlight: 3, requests: 5555 * scale, ewmaLatencyMs: 12.34, consecutiveFailures: 0 }))),
      websockets: websockets({ opened: 100 * scale, active: 12, received: { messages: 1000 * scale, bytes: 0 }, sent: { messages: 1200 * scale, bytes: 0 } }),
    });
  let scale = 1;
  const builder = new ApiFeedBuilder({
    supervisor: { workers: () => [worker(1, true, report(scale)), worker(2, true, report(scale + 1))], retiredStats: [], committed: { version: 12 }, expectedWorkers: 2 },
    controller: { config, store: { status: () => ({ backend: 'embedded', available: true, since: '2025-03-01T11:00:00.000Z' }) } },
    healthChecker: new HealthChecker(silent, () => {}),
    outliers: new OutlierDetector(silent, () => {}),
    cluster: () => fakeMembership(async () => [{ id: 'a3f1c2d4-0b9e-4c65-9f1e-2b7d8c9e0f11', address: 'lb-1:80', version: '0.1.0', started: '2025-03-01T11:00:00.000Z', lastSeen: '2025-03-01T11:59:59.000Z', self: true }]),
    version: '0.1.0',
    startedAt: NOW - 3_600_000,
  });
  let feed = builder.build(NOW);
  for (let s = 1; s <= 60; s++) {
    scale++;
    await tick();
    feed = builder.build(NOW + s * 1000);
  }
  t.equal(feed.realtime.ts.length, 60);
  t.equal(Object.keys(feed.metrics.routes).length, 5);
  t.equal(feed.backends.length, 9);
  const bytes = Buffer.byteLength(JSON.stringify(feed));
  const sections = Object.fromEntries(Object.entries(feed).map(([k, v]) => [k, Buffer.byteLength(JSON.stringify(v))]));
  t.comment(`ApiFeed JSON: ${bytes} bytes (${JSON.stringify(sections)})`);
  t.ok(bytes < 12 * 1024, `small enough to send every worker every second (${bytes} bytes)`);
});
