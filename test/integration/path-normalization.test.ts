/**
 * Routing sees the path in its normal form, and so does the backend: `/%61dmin` and `/x/../admin`
 * reach the /admin route (not the catch-all), a route cannot be walked around by spelling its
 * path differently, and a malformed escape is a 400 that reaches no upstream.
 */
import t from 'tap';
import { rawRequest } from '../helpers/raw-http.js';
import { startUpstream } from '../helpers/upstream.js';
import { startVeloflux } from '../helpers/veloflux.js';

const admin = await startUpstream();
const web = await startUpstream();
t.teardown(() => Promise.all([admin.close(), web.close()]));
const vf = await startVeloflux(
  {
    pools: [
      { name: 'admin', backends: [{ id: 'admin-1', url: admin.url }] },
      { name: 'web', backends: [{ id: 'web-1', url: web.url }] },
    ],
    rateLimits: [
      { name: 'one', rate: 1, per: '1h', burst: 1, key: 'ip' },
      { name: 'shop', rate: 1, per: '1h', burst: 1, key: 'ip' },
    ],
    routes: [
      { path: '/admin/', pool: 'admin' },
      { path: '/limited/', pool: 'admin', rateLimit: 'one' },
      { host: 'shop.example.test', path: '/', pool: 'admin', rateLimit: 'shop' },
      { path: '/', pool: 'web' },
    ],
  },
  { workers: 1 },
);
t.teardown(() => vf.stop());

const get = (path: string, host = 'example.test') => rawRequest(vf.port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);

t.test('equivalent spellings of /admin reach the /admin route, normalised', async (t) => {
  for (const spelling of ['/admin/x', '/%61dmin/x', '/%61%64%6D%69%6E/x', '/web/../admin/x', '/./admin/./x', '/../../admin/x', '/%2e%2e/admin/x']) {
    const before = admin.requests.length;
    const res = await get(spelling);
    t.equal(res.status, 200, `${spelling}: 200`);
    t.equal(admin.requests.length, before + 1, `${spelling}: went to the admin pool`);
    t.equal(admin.requests.at(-1)!.url, '/admin/x', `${spelling}: the backend sees /admin/x`);
  }
  t.equal(web.requests.length, 0, 'nothing leaked to the catch-all route');
});

t.test('encoded slashes stay encoded; the query is untouched', async (t) => {
  await get('/admin%2Fx?q=%61/../b');
  t.equal(web.requests.at(-1)!.url, '/admin%2Fx?q=%61/../b', 'an encoded slash does not make a segment: /admin%2Fx is not under /admin');
});

t.test('a malformed escape is a 400 that reaches no upstream', async (t) => {
  const before = admin.requests.length + web.requests.length;
  const res = await get('/admin/%zz');
  t.equal(res.status, 400);
  t.equal(admin.requests.length + web.requests.length, before);
});

t.test('no spelling of a path skips its route: merged slashes, path parameters (issue 14)', async (t) => {
  // The /limited/ route allows one request (burst 1, one per hour): every later spelling must meet the same bucket.
  t.equal((await get('/limited/a')).status, 200);
  for (const spelling of ['//limited/a', '/limited;x/a', '/x/..;y/limited/a', '/limited//a']) {
    const res = await get(spelling);
    t.equal(res.status, 429, `${spelling}: the /limited/ rate limit applies`);
  }
  const seen = admin.requests.filter((r) => r.url.includes('limited')).map((r) => r.url);
  t.same(seen, ['/limited/a'], 'only the first request reached the backend');
});

t.test('merged slashes reach the backend; path parameters reach it as sent', async (t) => {
  await get('//admin//x');
  t.equal(admin.requests.at(-1)!.url, '/admin/x');
  await get('/admin/x;jsessionid=1');
  t.equal(admin.requests.at(-1)!.url, '/admin/x;jsessionid=1');
});

t.test('a raw backslash in the path is a 400 that reaches no upstream', async (t) => {
  const before = admin.requests.length + web.requests.length;
  const res = await get('/x\\..\\limited/a');
  t.equal(res.status, 400);
  t.equal(admin.requests.length + web.requests.length, before);
});

t.test('a trailing dot in Host does not skip the host route (its rate limit applies)', async (t) => {
  t.equal((await get('/', 'shop.example.test')).status, 200);
  t.equal((await get('/', 'shop.example.test.')).status, 429, 'the fully qualified spelling meets the same route');
  t.equal((await get('/', 'SHOP.example.test.:80')).status, 429, 'with a port and upper case too');
});
