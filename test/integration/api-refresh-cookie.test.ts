/**
 * The refresh token in an HttpOnly cookie for browsers (refresh-cookie.ts): asked for with
 * `X-VeloFlux-Refresh: cookie`, never in the JSON then; a reload trades the cookie for a new access
 * token and a rotated cookie; the cookie is ignored without the header (CSRF); logout clears it
 * and ends the session.
 */
import t from 'tap';
import { startVeloflux, TEST_API_ADMIN } from '../helpers/veloflux.js';

const vf = await startVeloflux({ pools: [{ name: 'web', backends: [{ id: 'w', url: 'http://127.0.0.1:9' }] }], routes: [{ path: '/', pool: 'web' }] });
t.teardown(() => vf.stop());

const OPT_IN = { 'x-veloflux-refresh': 'cookie' };
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${vf.apiUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

/** The cookie pair (name=value) a Set-Cookie header sets, and its attributes. */
function cookieOf(res: Response): { pair: string; attributes: string } {
  const header = res.headers.get('set-cookie') ?? '';
  const [pair = '', ...attributes] = header.split(';').map((s) => s.trim());
  return { pair, attributes: attributes.join('; ') };
}

t.test('login with the opt-in header: the refresh token only in an HttpOnly, SameSite=Strict cookie scoped to /api/auth', async (t) => {
  const res = await post('/api/auth/login', TEST_API_ADMIN, OPT_IN);
  t.equal(res.status, 200);
  const body = (await res.json()) as Record<string, unknown>;
  t.type(body.accessToken, 'string');
  t.notOk('refreshToken' in body, 'not readable by page scripts');
  const cookie = cookieOf(res);
  t.match(cookie.pair, /^vf_refresh=.+/);
  t.match(cookie.attributes, /HttpOnly/);
  t.match(cookie.attributes, /SameSite=Strict/);
  t.match(cookie.attributes, /Path=\/api\/auth/);
  t.match(cookie.attributes, /Max-Age=604800/, 'the refresh token lifetime (7d)');
});

t.test('a reload: refresh with the cookie and the header gives a new access token and rotates the cookie; the old cookie then ends the session', async (t) => {
  const first = cookieOf(await post('/api/auth/login', TEST_API_ADMIN, OPT_IN)).pair;
  const refreshed = await post('/api/auth/refresh', {}, { ...OPT_IN, cookie: first });
  t.equal(refreshed.status, 200);
  const body = (await refreshed.json()) as { accessToken: string; refreshToken?: string };
  t.equal(body.refreshToken, undefined);
  const me = await fetch(`${vf.apiUrl}/api/auth/me`, { headers: { authorization: `Bearer ${body.accessToken}` } });
  t.equal(me.status, 200);
  const second = cookieOf(refreshed).pair;
  t.not(second, first, 'rotated');
  const reused = await post('/api/auth/refresh', {}, { ...OPT_IN, cookie: first });
  t.equal(reused.status, 401, 'the replaced cookie is refused');
  t.equal((await post('/api/auth/refresh', {}, { ...OPT_IN, cookie: second })).status, 401, 'and its reuse ended the whole session');
});

t.test('without the header the cookie is not read (a cross-site form cannot send it): 401', async (t) => {
  const cookie = cookieOf(await post('/api/auth/login', TEST_API_ADMIN, OPT_IN)).pair;
  const res = await post('/api/auth/refresh', {}, { cookie });
  t.equal(res.status, 401);
  t.equal(((await res.json()) as { error: { code: string } }).error.code, 'VF_ERR_AUTH_REQUIRED');
  t.equal((await post('/api/auth/refresh', {}, { ...OPT_IN, cookie })).status, 200, 'the same cookie with the header works');
});

t.test('logout clears the cookie and ends the session it names', async (t) => {
  const login = await post('/api/auth/login', TEST_API_ADMIN, OPT_IN);
  const { accessToken } = (await login.json()) as { accessToken: string };
  const cookie = cookieOf(login).pair;
  const out = await fetch(`${vf.apiUrl}/api/auth/logout`, { headers: { authorization: `Bearer ${accessToken}` } });
  t.equal(out.status, 200);
  t.match(cookieOf(out), { pair: 'vf_refresh=', attributes: /Max-Age=0/ });
  t.equal((await post('/api/auth/refresh', {}, { ...OPT_IN, cookie })).status, 401);
});

t.test('scripts and CLIs keep the body form', async (t) => {
  const login = await post('/api/auth/login', TEST_API_ADMIN);
  t.equal(login.headers.get('set-cookie'), null);
  const { refreshToken } = (await login.json()) as { refreshToken: string };
  t.type(refreshToken, 'string');
  t.equal((await post('/api/auth/refresh', { refreshToken })).status, 200);
});
