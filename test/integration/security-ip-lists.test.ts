/**
 * The live address lists (issue 17): CIDR allow/deny changed through the admin API or the main
 * API (operators and up) apply on every worker to the next requests, on every route, without a
 * reload; an invalid CIDR is a 400 that names the field; a refusal is a security event.
 */
import t from 'tap';
import { request } from 'node:http';
import { startUpstream } from '../helpers/upstream.js';
import { startVeloflux, TEST_API_ADMIN } from '../helpers/veloflux.js';

const PASSWORD = 'ip-lists-password-0123';
const upstream = await startUpstream();
t.teardown(() => upstream.close());
const vf = await startVeloflux(
  {
    pools: [{ name: 'web', backends: [{ id: 'u1', url: upstream.url }] }],
    routes: [
      { path: '/open/', pool: 'web' },
      { path: '/shop/', pool: 'web', security: { mode: 'block' } },
    ],
  },
  { workers: 2, readyTimeoutMs: 60_000 },
);
t.teardown(() => vf.stop());

async function api(method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${vf.apiUrl}${path}`, {
    method,
    headers: { connection: 'close', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await vf.admin(path, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  return { status: res.status, body: await res.json() };
}

/** A new connection each time: with two workers, consecutive requests reach both. */
function get(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: vf.port, path, agent: false, headers: { 'user-agent': 'Mozilla/5.0 Firefox/125.0', host: 'shop.example.com' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Waits until `rounds` requests in a row to each path answer `status` (every worker applied the change). */
async function settles(paths: string[], status: number, rounds = 6, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let streak = 0;
  while (Date.now() < deadline) {
    const answers = await Promise.all(paths.map((p) => get(p)));
    streak = answers.every((a) => a === status) ? streak + 1 : 0;
    if (streak >= rounds) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

const adminToken = (await api('POST', '/api/auth/login', undefined, TEST_API_ADMIN)).body.accessToken as string;
const created = await api('POST', '/api/admin/users', adminToken, { email: 'viewer@ops.test', password: PASSWORD, role: 'viewer' });
if (created.status !== 201) throw new Error(`viewer: ${JSON.stringify(created.body)}`);
const viewerToken = (await api('POST', '/api/auth/login', undefined, { email: 'viewer@ops.test', password: PASSWORD })).body.accessToken as string;
const etagBefore = (await vf.admin('/admin/config')).headers.get('etag');
const openBefore = await get('/open/x');

const denied = await admin('PUT', '/admin/security/ip-lists', { deny: ['127.0.0.0/8'] });
const deniedEverywhere = await settles(['/open/x', '/shop/x'], 403);
const etagAfter = (await vf.admin('/admin/config')).headers.get('etag');

const viewerPut = await api('PUT', '/api/security/ip-lists', viewerToken, { deny: [] });
const badApi = await api('PUT', '/api/security/ip-lists', adminToken, { allow: ['10.0.0.1'], deny: ['192.168.0.0/16', '10.0.0.0/33'] });
const badAdmin = await admin('PUT', '/admin/security/ip-lists', { allow: ['not-an-address'] });
const stillDenied = await get('/open/x');

const allowed = await api('PUT', '/api/security/ip-lists', adminToken, { allow: ['127.0.0.1'], deny: ['127.0.0.0/8'] });
const allowedEverywhere = await settles(['/open/x', "/shop/x?id=1'%20OR%20'1'%3D'1"], 200);
const read = await api('GET', '/api/security/ip-lists', viewerToken);

const cleared = await api('PUT', '/api/security/ip-lists', adminToken, {});
const attackBlockedAgain = await settles(["/shop/x?id=1'%20OR%20'1'%3D'1"], 403);
const openAgain = await settles(['/open/x'], 200);

t.test('a deny list set through the admin API applies on every worker and route at once, without a reload', async (t) => {
  t.equal(openBefore, 200);
  t.equal(denied.status, 200);
  t.same(denied.body.deny, ['127.0.0.0/8']);
  t.ok(deniedEverywhere, 'both routes answer 403 on every worker');
  t.equal(etagAfter, etagBefore, 'the config did not change');
});

t.test('invalid entries are a 400 naming the field; viewers cannot change the lists', async (t) => {
  t.equal(viewerPut.status, 403);
  t.equal(badApi.status, 400);
  t.equal(badApi.body.error.code, 'VF_ERR_VALIDATION');
  t.match(badApi.body.error.message, /deny\[1\]/, 'the field named');
  t.notMatch(badApi.body.error.message, /deny\[0\]|allow/, 'and only it');
  t.equal(badAdmin.status, 400);
  t.match(badAdmin.body.error.message, /allow\[0\]/);
  t.equal(stillDenied, 403, 'a refused change changed nothing');
});

t.test('the main API (operators and up) edits the same lists: an allowed address skips the rules', async (t) => {
  t.equal(allowed.status, 200);
  t.ok(allowedEverywhere, 'allowed on every worker, the attack in the query included');
  t.equal(read.status, 200);
  t.match(read.body, { allow: ['127.0.0.1'], deny: ['127.0.0.0/8'], configured: { allow: [], deny: [] }, updatedBy: TEST_API_ADMIN.email });
  t.equal(cleared.status, 200);
  t.ok(attackBlockedAgain, 'cleared: the rules apply again');
  t.ok(openAgain, 'and the open route serves');
});

t.test('refusals by the list are security events', async (t) => {
  const deadline = Date.now() + 10_000;
  let events: any[] = [];
  while (Date.now() < deadline) {
    events = (await api('GET', '/api/security/events?category=ip-list', adminToken)).body.events;
    if (events.length > 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  t.ok(events.length > 0, `${events.length} ip-list events`);
  t.match(events[0], { action: 'blocked', categories: ['ip-list'], client: '127.0.0.1', matches: [] });
});
