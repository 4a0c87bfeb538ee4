/**
 * What each audience of the feed streams sees (issue 14, item 2): anonymous readers aggregates
 * only, a tenant's users their tenant's objects, users without a tenant everything.
 */
import t from 'tap';
import type { ApiBackend, ApiMetrics, ApiStatus, ApiHealth, TrafficSummary } from '../../../src/shared/api-feed.js';
import { validateConfig } from '../../../src/shared/config/load.js';
import { backendsView, healthView, metricsView, statusView } from '../../../src/workers/api/feed-views.js';
import { ANONYMOUS } from '../../../src/workers/api/streams/stream-channel.js';

const config = validateConfig(
  {
    pools: [
      { name: 'acme-web', backends: [{ id: 'acme-1', url: 'http://10.0.0.1:80' }] },
      { name: 'globex-web', backends: [{ id: 'globex-1', url: 'http://10.0.0.2:80' }, { id: 'globex-2', url: 'http://10.0.0.3:80' }] },
      { name: 'shared', backends: [{ id: 'shared-1', url: 'http://10.0.0.4:80' }] },
    ],
    routes: [
      { host: 'acme.test', path: '/', pool: 'acme-web', tenant: 'acme' },
      { host: 'globex.test', path: '/', pool: 'globex-web', tenant: 'globex' },
      { host: '*', path: '/', pool: 'shared' },
    ],
  },
  'test',
  {},
);

const backend = (id: string, pool: string, state: Partial<ApiBackend> = {}): ApiBackend => ({
  id, pool, url: `http://${id}.internal:80`, weight: 1, drain: false, healthy: true, ejected: false, available: true, inFlight: 0, ewmaLatencyMs: 1, requests: 5, ...state,
});
const backends = [backend('acme-1', 'acme-web'), backend('globex-1', 'globex-web', { healthy: false, available: false }), backend('globex-2', 'globex-web', { drain: true, available: false }), backend('shared-1', 'shared', { ejected: true, available: false })];

t.test('backends: counts for anonymous readers, the list for users, scoped to their tenant', async (t) => {
  const view = backendsView(backends, config);
  const anonymous = view(ANONYMOUS);
  t.same(anonymous, { counts: { total: 4, available: 1, unhealthy: 1, ejected: 1, draining: 1 } });
  t.notMatch(JSON.stringify(anonymous), /acme|globex|shared|http/, 'no id, pool or URL');
  t.same((view('globex') as { backends: ApiBackend[] }).backends.map((b) => b.id), ['globex-1', 'globex-2'], 'globex: its own two');
  t.same((view('globex') as { counts: unknown }).counts, { total: 2, available: 0, unhealthy: 1, ejected: 0, draining: 1 }, 'counted over what it sees');
  t.same((view('acme') as { backends: ApiBackend[] }).backends.map((b) => b.id), ['acme-1'], 'acme: its own; the shared pool is not a tenant\'s');
  t.same((view('nobody') as { backends: ApiBackend[] }).backends, [], 'a tenant that owns nothing sees nothing');
  t.same((view(null) as { backends: ApiBackend[] }).backends, backends, 'a user without a tenant: all of them');
});

t.test('metrics: totals for anonymous readers; a tenant its routes, pools and backends', async (t) => {
  const s = (requests: number): TrafficSummary => ({ requests, errors5xx: 0, errors4xx: 0, bytesOut: 0, p50Ms: null, p95Ms: null, p99Ms: null });
  const metrics: ApiMetrics = {
    totals: { ...s(10), websockets: { active: 0, opened: 0, messagesReceived: 0, messagesSent: 0 } },
    routes: { 'acme.test/': s(1), 'globex.test/': s(2), '*/': s(7) },
    pools: { 'acme-web': s(1), 'globex-web': s(2), shared: s(7) },
    backends: { 'acme-1': s(1), 'globex-1': s(2), 'shared-1': s(7) },
  };
  const view = metricsView(metrics, 3, config);
  t.same(view(ANONYMOUS), { totals: metrics.totals, routes: {}, pools: {}, backends: {}, configVersion: 3 });
  t.same(view('acme'), { totals: null, routes: { 'acme.test/': s(1) }, pools: { 'acme-web': s(1) }, backends: { 'acme-1': s(1) }, configVersion: 3 });
  t.same(view(null), { ...metrics, configVersion: 3 });
});

t.test('status: no pool names for anonymous readers; health: alerts for users without a tenant only', async (t) => {
  const status: ApiStatus = {
    uptimeSeconds: 1, version: '1.0.0', configVersion: 3, nodeId: null, nodes: [],
    pools: [{ name: 'acme-web', algorithm: 'round_robin', backends: 1, healthy: 1 }, { name: 'globex-web', algorithm: 'round_robin', backends: 2, healthy: 1 }],
  };
  const sv = statusView(status, config);
  t.same((sv(ANONYMOUS) as ApiStatus).pools, []);
  t.same((sv('globex') as ApiStatus).pools.map((p) => p.name), ['globex-web']);
  t.same(sv(null), status);

  const health: ApiHealth = { status: 'up', workers: { ready: 1, alive: 1, expected: 1 }, state: { backend: 'embedded', available: true, since: '' }, configVersion: 3 };
  const alerts = [{ receivedAt: '', status: 'firing', labels: { alertname: 'Down', instance: '10.0.0.1' }, annotations: {} }];
  const hv = healthView({ health, alerts });
  t.same(hv(ANONYMOUS), health, 'anonymous: health, no alerts');
  t.same(hv('acme'), health, 'a tenant: no alerts either (GET /api/alerts is for users without a tenant)');
  t.same(hv(null), { ...health, alerts });
});
