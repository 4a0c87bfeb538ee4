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
    routes: [
      { path: '/admin/', pool: 'admin' },
      { path: '/', pool: 'web' },
    ],
  },
  { workers: 1 },
);
t.teardown(() => vf.stop());

const get = (path: string) => rawRequest(vf.port, `GET ${path} HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n`);

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
