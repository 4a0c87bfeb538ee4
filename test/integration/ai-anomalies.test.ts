/**
 * Anomaly detection through a real VeloFlux and real upstreams (issue 18): under steady load, one
 * of three backends turns slow; an anomaly event for it reaches the `ai` stream (after the auth
 * handshake) and GET /api/alerts within 10 s. The stream is tenant-scoped: the pool's tenant and
 * platform users get the event, another tenant's user never does. The first message after auth
 * is a snapshot with the backends' adaptive scores.
 */
import t from 'tap';
import WebSocket from 'ws';
import { startVeloflux, TEST_API_ADMIN } from '../helpers/veloflux.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { apiCall } from '../helpers/api.js';
import { pacedLoad } from '../helpers/paced-load.js';

t.setTimeout(180_000);

const SLOW_MS = 200;
let slow = false;
const backends: Upstream[] = [];
for (let i = 0; i < 3; i++) {
  const index = i;
  backends.push(
    await startUpstream((req, res) => {
      req.resume();
      req.on('end', () => {
        if (slow && index === 1) setTimeout(() => res.end('slow'), SLOW_MS);
        else res.end('fast');
      });
    }),
  );
}
t.teardown(() => Promise.all(backends.map((b) => b.close())));

const vf = await startVeloflux(
  {
    pools: [{ name: 'web', algorithm: 'round_robin', retries: 0, backends: backends.map((b, i) => ({ id: `b${i}`, url: b.url })) }],
    routes: [{ path: '/', pool: 'web', tenant: 'acme' }],
    backendPolicy: { allow: ['127.0.0.1/32'] },
  },
  { workers: 1 },
);
t.teardown(() => vf.stop());

const call = (path: string, token?: string, body?: unknown) => apiCall(vf.apiUrl, path, { ...(token !== undefined ? { token } : {}), ...(body !== undefined ? { body } : {}) });
const login = async (email: string, password: string): Promise<string> => {
  const res = await call('/api/auth/login', undefined, { email, password });
  if (res.status !== 200) throw new Error(`login ${email}: ${res.status}`);
  return res.body.accessToken as string;
};
const admin = await login(TEST_API_ADMIN.email, TEST_API_ADMIN.password);
for (const tenant of ['acme', 'globex']) {
  if ((await call('/api/tenants', admin, { id: tenant, name: tenant })).status !== 201) throw new Error(`tenant ${tenant}`);
  if ((await call('/api/admin/users', admin, { email: `${tenant}@test.local`, password: 'anomaly-password-0123', role: 'viewer', tenant })).status !== 201) throw new Error(`user ${tenant}`);
}
const acme = await login('acme@test.local', 'anomaly-password-0123');
const globex = await login('globex@test.local', 'anomaly-password-0123');

/** An authenticated client of /api/ws/ai keeping every `ai` message with when it came. */
async function aiStream(token: string): Promise<{ messages: { at: number; data: any }[]; ws: WebSocket }> {
  const ws = new WebSocket(`ws://127.0.0.1:${vf.apiPort}/api/ws/ai`);
  const messages: { at: number; data: any }[] = [];
  await new Promise<void>((resolve, reject) => {
    ws.on('error', reject);
    ws.on('message', (raw) => {
      const m = JSON.parse(String(raw));
      if (m.type === 'auth_required') ws.send(JSON.stringify({ type: 'auth', token }));
      else if (m.type === 'auth_ok') resolve();
      else if (m.type === 'ai') messages.push({ at: performance.now(), data: m.data });
    });
  });
  return { messages, ws };
}

t.test('a backend turning slow: an anomaly on the ai stream and in /api/alerts within 10 s, for its tenant only', async (t) => {
  const load = { ports: [vf.port], path: '/', ratePerSecond: 60, connectionsPerPort: 30 };
  // 20 s of steady load: the detector's reference (its own recent seconds) fills up.
  const warm = await pacedLoad({ ...load, seconds: 20 });
  t.same(Object.keys(warm.counts), ['200'], 'warm-up: every answer 200');
  const streams = { admin: await aiStream(admin), acme: await aiStream(acme), globex: await aiStream(globex) };
  t.teardown(() => Object.values(streams).forEach((s) => s.ws.close()));
  await new Promise((r) => setTimeout(r, 500));
  const snapshot = streams.admin.messages[0]?.data;
  t.ok(snapshot !== undefined, 'a snapshot right after auth');
  t.same(snapshot.active, [], 'no anomaly while all are fast');
  t.same(snapshot.backends.map((b: any) => b.id).sort(), ['b0', 'b1', 'b2'], 'with every backend\'s adaptive score');
  for (const b of snapshot.backends) t.equal(b.score, Math.round(b.ewmaLatencyMs * (b.inFlight + 1) * 100) / 100);
  t.same(streams.globex.messages[0]?.data.backends, [], "another tenant's user sees no backend of this pool");

  slow = true;
  const slowedAt = performance.now();
  const during = pacedLoad({ ...load, seconds: 12 });
  const seen = (messages: { at: number; data: any }[]) => messages.find((m) => m.data.active.some((a: any) => a.backend === 'b1' && a.kind === 'backend_latency'));
  let event: { at: number; data: any } | undefined;
  for (const deadline = slowedAt + 10_000; performance.now() < deadline && event === undefined; await new Promise((r) => setTimeout(r, 100))) event = seen(streams.admin.messages);
  t.ok(event !== undefined, 'the anomaly reached the stream');
  const anomaly = event?.data.active.find((a: any) => a.backend === 'b1');
  t.comment(`anomaly on the stream ${((event?.at ?? NaN) - slowedAt).toFixed(0)} ms after the slow-down: ${JSON.stringify(anomaly)}`);
  t.match(anomaly, { kind: 'backend_latency', pool: 'web', backend: 'b1', unit: 'ms', since: String });
  // At the first second it is seen, the 3 s window may hold fast seconds too: the rise is partial.
  t.ok(anomaly.observed > anomaly.expected * 2 && anomaly.observed - anomaly.expected > 25 && anomaly.expected < 50, `observed ${anomaly.observed} ms vs expected ${anomaly.expected} ms`);
  t.ok(anomaly.score > 3.5, `robust z ${anomaly.score}`);
  t.ok(event!.data.recent.some((a: any) => a.id === anomaly.id), 'and among the recent events');

  const alerts = await call('/api/alerts', admin);
  const alert = alerts.body.alerts.find((a: any) => a.fingerprint === anomaly.id);
  t.match(alert, { status: 'firing', labels: { alertname: 'VelofluxAnomaly', kind: 'backend_latency', pool: 'web', backend: 'b1' } }, 'recorded as a firing alert');
  t.ok(performance.now() - slowedAt < 10_500, 'both within 10 s');

  await new Promise((r) => setTimeout(r, 1500));
  t.ok(seen(streams.acme.messages) !== undefined, "the pool's tenant sees it");
  t.notOk(streams.globex.messages.some((m) => JSON.stringify(m.data).includes('b1')), 'another tenant never does');
  const status = await call('/api/ai/status', acme);
  t.ok(status.body.pools[0].anomalies.some((a: any) => a.id === anomaly.id), 'GET /api/ai/status lists it as current');
  t.same((await call('/api/ai/status', globex)).body.anomalies, [], 'not for another tenant');
  await during;
});
