/**
 * GET /api/routes and /api/pools (the dashboard's "Routes & pools" page): what is in force after a
 * runtime change, each route with its rate limit spelt out and each pool with its effective
 * timeouts; a tenant's users see only their tenant's; no token, no answer.
 */
import t from 'tap';
import { startVeloflux, TEST_API_ADMIN } from '../helpers/veloflux.js';
import { apiCall, type ApiAnswer } from '../helpers/api.js';

const vf = await startVeloflux({
  server: { timeouts: { connect: '3s' } },
  pools: [
    { name: 'web', algorithm: 'least_conn', retries: 2, healthCheck: { path: '/healthz', interval: '30s', timeout: '1s' }, timeouts: { response: '7s' }, backends: [{ id: 'web-1', url: 'http://127.0.0.1:9' }] },
    { name: 'acme-web', backends: [{ id: 'acme.one', url: 'http://127.0.0.1:10', weight: 3 }] },
  ],
  rateLimits: [{ name: 'per-ip', rate: 50, per: '1s', burst: 80 }],
  routes: [
    { host: 'example.com', path: '/', pool: 'web', rateLimit: 'per-ip', redirectHttps: true },
    { path: '/acme/', pool: 'acme-web', tenant: 'acme', stripPrefix: true, security: { mode: 'detect' } },
  ],
});
t.teardown(() => vf.stop());

/** Setup steps fail the file loudly rather than assert before the tests start. */
function created(answer: ApiAnswer, what: string): void {
  if (answer.status !== 201) throw new Error(`${what}: ${answer.status} ${JSON.stringify(answer.body)}`);
}
const admin = (await apiCall(vf.apiUrl, '/api/auth/login', { body: TEST_API_ADMIN })).body.accessToken as string;
created(await apiCall(vf.apiUrl, '/api/tenants', { token: admin, body: { id: 'acme', name: 'Acme' } }), 'tenant acme');
const password = 'routing-viewer-password-1';
created(await apiCall(vf.apiUrl, '/api/admin/users', { token: admin, body: { email: 'viewer@acme.test', password, role: 'viewer', tenant: 'acme' } }), 'acme viewer');
const acmeViewer = (await apiCall(vf.apiUrl, '/api/auth/login', { body: { email: 'viewer@acme.test', password } })).body.accessToken as string;

t.test('the platform admin sees every route, with its rate limit and flags, in config order', async (t) => {
  const res = await apiCall(vf.apiUrl, '/api/routes', { token: admin });
  t.equal(res.status, 200);
  t.same(res.body.routes, [
    { host: 'example.com', path: '/', pool: 'web', tenant: null, stripPrefix: false, redirectHttps: true, rateLimit: { name: 'per-ip', key: 'ip', rate: 50, perMs: 1000, burst: 80 }, security: 'off' },
    { host: '*', path: '/acme/', pool: 'acme-web', tenant: 'acme', stripPrefix: true, redirectHttps: false, rateLimit: null, security: 'detect' },
  ]);
  t.ok(res.body.configVersion >= 1);
});

t.test('pools show their algorithm, backends, health check, retries and effective timeouts; runtime changes show at once', async (t) => {
  t.equal((await apiCall(vf.apiUrl, '/api/backends/web-1', { token: admin, method: 'PUT', body: { drain: true } })).status, 200);
  const res = await apiCall(vf.apiUrl, '/api/pools', { token: admin });
  t.equal(res.status, 200);
  const web = res.body.pools.find((p: { name: string }) => p.name === 'web');
  t.match(web, {
    algorithm: 'least_conn',
    retries: 2,
    backends: [{ id: 'web-1', url: 'http://127.0.0.1:9', weight: 1, drain: true }],
    healthCheck: { path: '/healthz', interval: 30_000, timeout: 1000 },
    timeoutsMs: { connect: 3000, response: 7000, request: 300_000 },
    sticky: false,
  });
  t.same(res.body.pools.map((p: { name: string }) => p.name), ['web', 'acme-web']);
});

t.test("a tenant's viewer sees only that tenant's routes and pools", async (t) => {
  const routes = await apiCall(vf.apiUrl, '/api/routes', { token: acmeViewer });
  t.same(routes.body.routes.map((r: { path: string }) => r.path), ['/acme/']);
  const pools = await apiCall(vf.apiUrl, '/api/pools', { token: acmeViewer });
  t.same(pools.body.pools.map((p: { name: string }) => p.name), ['acme-web']);
});

t.test('without a token: 401', async (t) => {
  for (const path of ['/api/routes', '/api/pools']) {
    const res = await apiCall(vf.apiUrl, path);
    t.equal(res.status, 401, path);
    t.equal(res.body.error.code, 'VF_ERR_AUTH_REQUIRED', path);
  }
});
