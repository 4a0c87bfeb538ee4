/**
 * AI traffic series and endpoints through a real VeloFlux and real upstreams (issue 18): traffic
 * on two pools shows up, once its minute has closed, as minute buckets with the exact request
 * and 5xx counts sent; the series survives a restart (it is in the state store under dataDir);
 * predictions answer an honest "insufficient_data"; bad input is 400/404; tenant users see only
 * their tenant's pools and routes; viewers read and operators train (in the piscina thread).
 * Waits for a wall-clock minute to end, so it takes up to about 80 s.
 */
import t from 'tap';
import { launchVeloflux, startVeloflux, TEST_API_ADMIN, type RunningVeloflux } from '../helpers/veloflux.js';
import { startUpstream } from '../helpers/upstream.js';
import { apiCall } from '../helpers/api.js';

t.setTimeout(240_000);

const upstream = await startUpstream((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(req.url?.startsWith('/fail') ? 503 : 200).end('x'));
});
t.teardown(() => upstream.close());

let vf: RunningVeloflux = await startVeloflux(
  {
    pools: [
      { name: 'acme-web', backends: [{ id: 'acme-1', url: upstream.url }] },
      { name: 'shared', backends: [{ id: 'shared-1', url: upstream.url }], retries: 0 },
    ],
    routes: [
      { path: '/acme/', pool: 'acme-web', tenant: 'acme' },
      { path: '/', pool: 'shared' },
    ],
    backendPolicy: { allow: ['127.0.0.1/32'] },
  },
  { workers: 1 },
);
t.teardown(() => vf.stop());

const call = (path: string, token?: string, init: { method?: string; body?: unknown } = {}) => apiCall(vf.apiUrl, path, { ...init, ...(token !== undefined ? { token } : {}) });
const login = async (email: string, password: string): Promise<string> => {
  const res = await call('/api/auth/login', undefined, { body: { email, password } });
  if (res.status !== 200) throw new Error(`login ${email}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.accessToken as string;
};
const PASSWORD = 'ai-series-password-0123';
/** Set-up runs before any subtest (tap ends a file whose top level asserts without one): failures throw. */
const must = (ok: boolean, what: string) => {
  if (!ok) throw new Error(`set-up failed: ${what}`);
};
let admin = await login(TEST_API_ADMIN.email, TEST_API_ADMIN.password);
must((await call('/api/tenants', admin, { body: { id: 'acme', name: 'Acme' } })).status === 201, 'tenant acme');
for (const [email, role, tenant] of [['viewer@test.local', 'viewer', null], ['operator@test.local', 'operator', null], ['acme@test.local', 'viewer', 'acme']] as const) {
  must((await call('/api/admin/users', admin, { body: { email, password: PASSWORD, role, ...(tenant !== null ? { tenant } : {}) } })).status === 201, `user ${email}`);
}
const viewer = await login('viewer@test.local', PASSWORD);
const operator = await login('operator@test.local', PASSWORD);
const acme = await login('acme@test.local', PASSWORD);

// The traffic: 30 answers 200 and 10 answers 503 on the shared pool, 12 on acme's.
const SENT = { shared: 40, sharedErrors: 10, acme: 12 };
const get = async (path: string) => (await fetch(`${vf.url}${path}`, { headers: { connection: 'close' } })).status;
const statuses: number[] = [];
for (let i = 0; i < 30; i++) statuses.push(await get('/ok'));
for (let i = 0; i < SENT.sharedErrors; i++) statuses.push(await get('/fail'));
for (let i = 0; i < SENT.acme; i++) statuses.push(await get('/acme/x'));
must(statuses.filter((s) => s === 503).length === SENT.sharedErrors && statuses.filter((s) => s === 200).length === SENT.shared - SENT.sharedErrors + SENT.acme, `answers ${statuses.join(',')}`);

const sum = (points: { requests: number; errors: number }[]) => points.reduce((a, p) => ({ requests: a.requests + p.requests, errors: a.errors + p.errors }), { requests: 0, errors: 0 });

t.test('each minute of traffic becomes a bucket with the exact counts, once the minute ends', async (t) => {
  const deadline = Date.now() + 80_000;
  let shared: any;
  for (;;) {
    shared = await call('/api/ai/series?pool=shared', viewer);
    t.equal(shared.status, 200);
    if (sum(shared.body.points).requests >= SENT.shared || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  t.same(sum(shared.body.points), { requests: SENT.shared, errors: SENT.sharedErrors }, 'shared pool: every request and every 5xx, counted once');
  for (const p of shared.body.points) {
    t.equal(p.t % 60_000, 0, 'buckets start on the minute');
    t.ok(p.seconds >= 1 && p.seconds <= 61, `covers ${p.seconds} s`);
    if (p.requests > 0) {
      t.equal(p.errorRate, p.errors / p.requests);
      t.ok(p.p99Ms > 0, `p99 ${p.p99Ms} ms`);
      t.equal(p.requestsPerSecond, Math.round((p.requests / p.seconds) * 1000) / 1000);
    }
  }
  const route = await call(`/api/ai/series?route=${encodeURIComponent('*/acme/')}`, viewer);
  t.same(sum(route.body.points), { requests: SENT.acme, errors: 0 }, 'the acme route too');
  const hours = await call('/api/ai/series?pool=shared&resolution=hour', viewer);
  t.same(sum(hours.body.points), { requests: SENT.shared, errors: SENT.sharedErrors }, 'the hourly view adds the same counts up');
});

t.test('predictions without enough history say so (never a made-up forecast); bad input is 400 or 404', async (t) => {
  const p = await call('/api/ai/predictions?pool=shared&horizon=15', viewer);
  t.equal(p.status, 200);
  t.match(p.body, { status: 'insufficient_data', key: 'pool:shared', needed: 240 });
  t.ok(p.body.have >= 1 && p.body.have < 240, `have ${p.body.have}`);
  t.notOk('points' in p.body, 'no points');
  for (const [query, status, code] of [
    ['pool=shared&horizon=0', 400, 'VF_ERR_VALIDATION'],
    ['pool=shared&horizon=61', 400, 'VF_ERR_VALIDATION'],
    ['pool=shared&horizon=abc', 400, 'VF_ERR_VALIDATION'],
    ['horizon=5', 400, 'VF_ERR_VALIDATION'],
    ['pool=shared&route=*/', 400, 'VF_ERR_VALIDATION'],
    ['pool=nope', 404, 'VF_ERR_POOL_NOT_FOUND'],
    ['route=nope', 404, 'VF_ERR_NOT_FOUND'],
  ] as const) {
    const r = await call(`/api/ai/predictions?${query}`, viewer);
    t.same([r.status, r.body.error?.code], [status, code], query);
  }
  t.equal((await call('/api/ai/predictions?pool=shared')).status, 401, 'a token is needed');
});

t.test("a tenant's user sees only its tenant's pools and routes", async (t) => {
  t.same((await call('/api/ai/series?pool=shared', acme)).body.error?.code, 'VF_ERR_POOL_NOT_FOUND', "another's pool is not found");
  t.equal((await call('/api/ai/predictions?route=*/', acme)).status, 404, "another's route is not found");
  const own = await call('/api/ai/series?pool=acme-web', acme);
  t.same(sum(own.body.points), { requests: SENT.acme, errors: 0 }, 'its own pool is there');
  const status = await call('/api/ai/status', acme);
  t.same(status.body.pools.map((p: any) => p.name), ['acme-web']);
  t.same(status.body.routes.map((r: any) => r.name), ['*/acme/']);
  const full = await call('/api/ai/status', viewer);
  t.same(full.body.pools.map((p: any) => [p.name, p.algorithm]), [['acme-web', 'round_robin'], ['shared', 'round_robin']]);
  const shared = full.body.pools.find((p: any) => p.name === 'shared');
  t.match(shared.coverage, { needed: 240 });
  t.ok(shared.coverage.have >= 1, 'coverage counts the stored minutes');
});

t.test('viewers may not train; an operator starts a job (202) that runs in the piscina thread and stores versioned models', async (t) => {
  t.same((await call('/api/ai/train', viewer, { method: 'POST' })).status, 403);
  const started = await call('/api/ai/train', operator, { method: 'POST' });
  t.equal(started.status, 202);
  t.match(started.body, { id: String, state: 'running' });
  let job: any;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    job = (await call(`/api/ai/jobs/${started.body.id}`, viewer)).body;
    if (job.state !== 'running') break;
  }
  t.equal(job.state, 'done', JSON.stringify(job));
  t.same(job.trained.map((x: any) => [x.key, x.status]).sort(), [['pool:acme-web', 'insufficient_data'], ['pool:shared', 'insufficient_data'], ['route:*/', 'insufficient_data'], ['route:*/acme/', 'insufficient_data']]);
  t.type(job.eventLoopDelay.p99Ms, 'number');
  t.comment(`event-loop delay while training: ${JSON.stringify(job.eventLoopDelay)}, ${job.durationMs} ms`);
  const acmeJob = (await call(`/api/ai/jobs/${started.body.id}`, acme)).body;
  t.same(acmeJob.trained.map((x: any) => x.key).sort(), ['pool:acme-web', 'route:*/acme/'], "a tenant's user sees its own series of the job only");
  const models = (await call('/api/ai/models', viewer)).body.models;
  t.same(models.map((m: any) => [m.key, m.version, m.status]), [['pool:acme-web', 1, 'insufficient_data'], ['pool:shared', 1, 'insufficient_data'], ['route:*/', 1, 'insufficient_data'], ['route:*/acme/', 1, 'insufficient_data']]);
  t.equal((await call('/api/ai/jobs/no-such-job', viewer)).status, 404);
});

t.test('a restart keeps the history (the series is in the state store)', async (t) => {
  await vf.stop();
  vf = await launchVeloflux(vf.configFile, { workers: 1 });
  admin = await login(TEST_API_ADMIN.email, TEST_API_ADMIN.password);
  const shared = await call('/api/ai/series?pool=shared', admin);
  t.same(sum(shared.body.points), { requests: SENT.shared, errors: SENT.sharedErrors }, 'the same counts after the restart');
  const models = (await call('/api/ai/models', admin)).body.models;
  t.equal(models.length, 4, 'and the models');
});
