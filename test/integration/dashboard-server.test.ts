/**
 * The dashboard listener as an operator meets it (issue 15): through the load balancer with the
 * default layout (`/api/` to the main API, the rest to the dashboard) and opened directly, where
 * its `/api/` calls and `/api/ws/` streams are forwarded to the main API.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startVeloflux, TEST_API_ADMIN, type RunningVeloflux } from '../helpers/veloflux.js';
import { closedPort } from '../helpers/upstream.js';
import { apiCall } from '../helpers/api.js';

const builtIndex = readFileSync(fileURLToPath(new URL('../../dist/dashboard/index.html', import.meta.url)), 'utf8');
const scriptPath = /src="(\/assets\/[^"]+\.js)"/.exec(builtIndex)?.[1];

let vf: RunningVeloflux;
t.before(async () => {
  const [apiPort, dashboardPort] = [await closedPort(), await closedPort()];
  vf = await startVeloflux({
    server: { api: { port: apiPort, host: '127.0.0.1' }, dashboard: { port: dashboardPort, host: '127.0.0.1' } },
    pools: [
      { name: 'api', backends: [{ id: 'api-1', url: `http://127.0.0.1:${apiPort}` }] },
      { name: 'dashboard', backends: [{ id: 'dashboard-1', url: `http://127.0.0.1:${dashboardPort}` }] },
    ],
    routes: [
      { host: '*', path: '/api/', pool: 'api' },
      { host: '*', path: '/', pool: 'dashboard' },
    ],
  });
});
t.teardown(() => vf?.stop());

t.test('through the load balancer, / and client routes answer the app; deep links too', async (t) => {
  for (const path of ['/', '/dashboard', '/backends', '/backends/web?sort=p99']) {
    const res = await fetch(`${vf.url}${path}`);
    t.equal(res.status, 200, path);
    t.match(res.headers.get('content-type'), /^text\/html/, path);
    t.equal(res.headers.get('cache-control'), 'no-cache', `${path}: the page is revalidated so a new build shows at once`);
    t.equal(await res.text(), builtIndex, path);
  }
});

t.test('every page carries a CSP without inline code, nosniff and no framing', async (t) => {
  const res = await fetch(`${vf.dashboardUrl}/dashboard`);
  const csp = res.headers.get('content-security-policy') ?? '';
  t.match(csp, /script-src 'self'(;|$)/);
  t.match(csp, /frame-ancestors 'none'/);
  t.notMatch(csp, /unsafe-inline|unsafe-eval/);
  t.equal(res.headers.get('x-content-type-options'), 'nosniff');
  t.notMatch(builtIndex, /<script(?![^>]*\bsrc=)[^>]*>/, 'the built page has no inline script the CSP would block');
});

t.test('hashed assets are cached for a year and gzipped on request; unknown assets are 404, not the app', async (t) => {
  t.ok(scriptPath, 'the built index names its script');
  const res = await fetch(`${vf.url}${scriptPath}`, { headers: { 'accept-encoding': 'gzip' } });
  t.equal(res.status, 200);
  t.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  t.equal(res.headers.get('content-encoding'), 'gzip');
  t.match(res.headers.get('content-type'), /^text\/javascript/);
  const etag = res.headers.get('etag')!;
  const again = await fetch(`${vf.dashboardUrl}${scriptPath}`, { headers: { 'if-none-match': etag } });
  t.equal(again.status, 304, 'a revalidation with the ETag costs no body');
  for (const missing of ['/assets/nope-123.js', '/favicon-x.png', '/dashboard/app.css']) {
    const gone = await fetch(`${vf.url}${missing}`);
    t.equal(gone.status, 404, missing);
    t.match(await gone.json(), { error: { code: 'VF_ERR_NOT_FOUND' } }, missing);
  }
  const traversal = await fetch(`${vf.dashboardUrl}/assets/..%2f..%2fpackage.json`);
  t.equal(traversal.status, 404, 'an encoded traversal finds nothing: the site is only what was built');
  const post = await fetch(`${vf.dashboardUrl}/dashboard`, { method: 'POST', body: 'x' });
  t.equal(post.status, 405);
  t.equal(post.headers.get('allow'), 'GET, HEAD');
});

t.test('opened directly, /api/ reaches the main API: login, an authorised call, and the JSON errors pass through', async (t) => {
  const login = await apiCall(vf.dashboardUrl, '/api/auth/login', { body: TEST_API_ADMIN });
  t.equal(login.status, 200);
  const me = await apiCall(vf.dashboardUrl, '/api/auth/me', { token: login.body.accessToken });
  t.equal(me.status, 200);
  t.equal(me.body.email, TEST_API_ADMIN.email);
  const refused = await apiCall(vf.dashboardUrl, '/api/backends');
  t.equal(refused.status, 401, "the API's own answer, not the dashboard's");
  t.equal(refused.body.error.code, 'VF_ERR_AUTH_REQUIRED');
});

t.test('opened directly, /api/ws/ streams are forwarded: the first message arrives', async (t) => {
  const ws = new WebSocket(`ws://127.0.0.1:${vf.dashboardPort}/api/ws/metrics`, { headers: { origin: vf.dashboardUrl } });
  const first = await new Promise<{ type: string }>((resolve, reject) => {
    ws.once('message', (data) => resolve(JSON.parse(String(data))));
    ws.once('error', reject);
  });
  ws.close();
  t.equal(first.type, 'metrics');
});

t.test('a WebSocket upgrade outside /api/ws/ is refused', async (t) => {
  const ws = new WebSocket(`ws://127.0.0.1:${vf.dashboardPort}/dashboard`);
  const status = await new Promise<number>((resolve) => {
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => resolve(-1));
  });
  t.equal(status, 404);
});
