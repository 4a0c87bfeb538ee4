/**
 * Ending access ends it everywhere (issue 14, items 4 and 7), on a real VeloFlux with two workers:
 * after logout, refresh-token reuse, a user disabled or deleted, or a tenant deleted, the same
 * access token is refused within a second by both workers (every call opens a new connection, and
 * the primary hands connections to the workers in turn), and an open private stream is closed.
 * A suspended tenant's users read but cannot write; the last platform admin stays; accounts name
 * only tenants that exist. With Redis, a logout or a disabled user on one instance ends access on
 * the others within a second too.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { startRedis } from '../helpers/redis.js';
import { startVeloflux, TEST_API_ADMIN, type RunningVeloflux } from '../helpers/veloflux.js';
import { apiCall, type ApiAnswer, type ApiCall } from '../helpers/api.js';

const vf = await startVeloflux(
  {
    pools: [{ name: 'acme-web', backends: [{ id: 'acme-1', url: 'http://127.0.0.1:9' }] }],
    routes: [{ path: '/acme/', pool: 'acme-web', tenant: 'acme' }],
  },
  { workers: 2 },
);
t.teardown(() => vf.stop());

const call = (path: string, init: ApiCall = {}): Promise<ApiAnswer> => apiCall(vf.apiUrl, path, init);

const PASSWORD = 'sessions-password-0123';
const login = (email: string, password = PASSWORD) => call('/api/auth/login', { body: { email, password } });
async function session(email: string, password = PASSWORD): Promise<{ accessToken: string; refreshToken: string; user: { id: string } }> {
  const res = await login(email, password);
  if (res.status !== 200) throw new Error(`login ${email}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}
const admin = (await session(TEST_API_ADMIN.email, TEST_API_ADMIN.password)).accessToken;
async function makeUser(email: string, role: string, tenant?: string): Promise<string> {
  const res = await call('/api/admin/users', { token: admin, body: { email, password: PASSWORD, role, ...(tenant !== undefined ? { tenant } : {}) } });
  if (res.status !== 201) throw new Error(`user ${email}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

const ROUNDS = 8;
/** `ROUNDS` calls of GET /api/auth/me with `token`, each on a new connection: their statuses. */
async function statuses(token: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < ROUNDS; i++) out.push((await call('/api/auth/me', { token })).status);
  return out;
}
/** Milliseconds until `ROUNDS` calls in a row answer 401, or Infinity when that takes over `limitMs`. */
async function msUntilRefused(token: string, limitMs = 1000): Promise<number> {
  const started = performance.now();
  while (performance.now() - started <= limitMs) {
    if ((await statuses(token)).every((s) => s === 401)) return performance.now() - started;
  }
  return Number.POSITIVE_INFINITY;
}

t.test('both workers answer (the calls below reach each)', async (t) => {
  const pids = new Set<number>();
  for (let i = 0; i < ROUNDS; i++) pids.add((await call('/api/system/info', { token: admin })).body.process.pid as number);
  t.equal(pids.size, 2, `${ROUNDS} connections reached 2 workers`);
});

t.test('logout: the same access token is refused within a second on every worker', async (t) => {
  const s = await session(TEST_API_ADMIN.email, TEST_API_ADMIN.password);
  t.same(await statuses(s.accessToken), Array(ROUNDS).fill(200), 'works before');
  t.equal((await call('/api/auth/logout', { token: s.accessToken })).status, 200);
  const ms = await msUntilRefused(s.accessToken);
  t.ok(ms <= 1000, `refused everywhere ${ms.toFixed(0)} ms after logout`);
  const res = await call('/api/backends', { token: s.accessToken });
  t.same([res.status, res.body.error.code], [401, 'VF_ERR_AUTH_INVALID'], 'on every route, with VF_ERR_AUTH_INVALID');
  t.equal((await statuses(admin)).every((x) => x === 200), true, "another session of the same user goes on");
});

t.test('refresh-token reuse: every access token of the session is refused', async (t) => {
  const first = await session(TEST_API_ADMIN.email, TEST_API_ADMIN.password);
  const second = (await call('/api/auth/refresh', { body: { refreshToken: first.refreshToken } })).body;
  t.same(await statuses(second.accessToken), Array(ROUNDS).fill(200));
  t.equal((await call('/api/auth/refresh', { body: { refreshToken: first.refreshToken } })).status, 401, 'the rotated token is presented again');
  t.ok((await msUntilRefused(first.accessToken)) <= 1000, 'the first access token is dead');
  t.ok((await msUntilRefused(second.accessToken)) <= 1000, 'and so is the newest');
});

t.test('a private stream of a session that ends is closed (4401), and refused afterwards', async (t) => {
  const s = await session(TEST_API_ADMIN.email, TEST_API_ADMIN.password);
  const open = (token: string) =>
    new Promise<{ ws: WebSocket; first: string; closed: Promise<number> }>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${vf.apiPort}/api/ws/ai`);
      const closed = new Promise<number>((done) => ws.once('close', (code) => done(code)));
      ws.on('error', reject);
      ws.on('message', (data) => {
        const text = String(data);
        if (text.includes('auth_required')) ws.send(JSON.stringify({ type: 'auth', token }));
        else resolve({ ws, first: text, closed });
      });
      void closed.then((code) => resolve({ ws, first: `closed ${code}`, closed }));
    });
  const stream = await open(s.accessToken);
  t.equal(stream.first, '{"type":"auth_ok"}', 'authenticated');
  const loggedOutAt = performance.now();
  t.equal((await call('/api/auth/logout', { token: s.accessToken })).status, 200);
  t.equal(await Promise.race([stream.closed, new Promise((resolve) => setTimeout(resolve, 2000, 'still open after 2 s'))]), 4401, 'closed with 4401');
  t.ok(performance.now() - loggedOutAt < 1000, `within ${(performance.now() - loggedOutAt).toFixed(0)} ms`);
  t.equal((await open(s.accessToken)).first, 'closed 4401', 'a new stream with the same token is refused');
});

t.test('a disabled user is refused at once and cannot log in or refresh; a deleted one too', async (t) => {
  const id = await makeUser('disabled@test.local', 'operator');
  const s = await session('disabled@test.local');
  const patched = await call(`/api/admin/users/${id}`, { method: 'PATCH', token: admin, body: { disabled: true } });
  t.match(patched, { status: 200, body: { id, disabled: true } });
  t.ok((await msUntilRefused(s.accessToken)) <= 1000, 'its access token is refused');
  t.equal((await login('disabled@test.local')).status, 401, 'no login');
  t.equal((await call('/api/auth/refresh', { body: { refreshToken: s.refreshToken } })).status, 401, 'no refresh');
  t.match(await call(`/api/admin/users/${id}`, { method: 'PATCH', token: admin, body: { disabled: false, role: 'viewer' } }), { status: 200, body: { disabled: false, role: 'viewer' } });
  const again = await session('disabled@test.local');
  t.equal(again.user.id, id, 'enabled again: logs in');
  const me = await call('/api/auth/me', { token: again.accessToken });
  t.equal(me.body.role, 'viewer', 'with the new role');

  t.equal((await call(`/api/admin/users/${id}`, { method: 'DELETE', token: admin })).status, 204);
  t.ok((await msUntilRefused(again.accessToken)) <= 1000, 'deleted: its access token is refused');
  t.equal((await login('disabled@test.local')).status, 401, 'and it cannot log in');
  t.equal((await call(`/api/admin/users/${id}`, { method: 'DELETE', token: admin })).status, 404, 'a second delete: 404');
});

t.test("a deleted tenant's users lose access and cannot log in; a new tenant with its id starts empty", async (t) => {
  t.equal((await call('/api/tenants', { token: admin, body: { id: 'doomed', name: 'Doomed' } })).status, 201);
  await makeUser('doomed-admin@test.local', 'admin', 'doomed');
  const s = await session('doomed-admin@test.local');
  t.equal((await call('/api/admin/users', { token: s.accessToken })).status, 200);
  t.equal((await call('/api/tenants/doomed', { method: 'DELETE', token: admin })).status, 204);
  t.ok((await msUntilRefused(s.accessToken)) <= 1000, 'its users are refused');
  t.equal((await login('doomed-admin@test.local')).status, 401, 'and cannot log in');
  t.equal((await call('/api/auth/refresh', { body: { refreshToken: s.refreshToken } })).status, 401, 'nor refresh');
  t.equal((await call('/api/tenants', { token: admin, body: { id: 'doomed', name: 'Reborn' } })).status, 201);
  const users = (await call('/api/admin/users', { token: admin })).body.users as { tenant: string | null }[];
  t.same(users.filter((u) => u.tenant === 'doomed'), [], 'the new tenant inherits no user');
  t.equal((await login('doomed-admin@test.local')).status, 401, 'the old admin is still out');
});

t.test("a suspended tenant's users may read but not write (403 VF_ERR_TENANT_SUSPENDED)", async (t) => {
  t.equal((await call('/api/tenants', { token: admin, body: { id: 'acme', name: 'Acme' } })).status, 201);
  await makeUser('acme-admin@test.local', 'admin', 'acme');
  await makeUser('acme-op@test.local', 'operator', 'acme');
  const op = (await session('acme-op@test.local')).accessToken;
  const acmeAdmin = (await session('acme-admin@test.local')).accessToken;
  t.equal((await call('/api/backends/acme-1', { method: 'PUT', token: op, body: { weight: 2 } })).status, 200, 'active: writes work');

  t.equal((await call('/api/tenants/acme', { method: 'PUT', token: admin, body: { status: 'suspended' } })).status, 200);
  for (const [what, path, init] of [
    ['change a backend', '/api/backends/acme-1', { method: 'PUT', token: op, body: { weight: 3 } }],
    ['add a backend', '/api/backends', { token: op, body: { id: 'x', pool: 'acme-web', url: 'http://10.255.0.1:9' } }],
    ['delete a backend', '/api/backends/acme-1', { method: 'DELETE', token: op }],
    ['create a user', '/api/admin/users', { token: acmeAdmin, body: { email: 'new@acme.test', password: PASSWORD, role: 'viewer' } }],
    ['register one', '/api/auth/register', { token: acmeAdmin, body: { email: 'new2@acme.test', password: PASSWORD } }],
    ['invite one', '/api/auth/invites', { token: acmeAdmin, body: { role: 'viewer' } }],
  ] as const) {
    let res: ApiAnswer = { status: 0, body: undefined };
    // The change reaches both workers within a second.
    for (const deadline = performance.now() + 1000; performance.now() < deadline; ) if ((res = await call(path, init)).status === 403) break;
    t.same([res.status, res.body?.error?.code], [403, 'VF_ERR_TENANT_SUSPENDED'], `${what}: 403 VF_ERR_TENANT_SUSPENDED`);
  }
  t.same((await statuses(op)).filter((s) => s !== 200), [], 'reads still work on every worker');
  t.match(await call('/api/backends/acme-1', { token: op }), { status: 200, body: { id: 'acme-1', weight: 2 } }, 'and nothing changed');
  t.equal((await login('acme-op@test.local')).status, 200, 'they may still log in');

  t.equal((await call('/api/tenants/acme', { method: 'PUT', token: admin, body: { status: 'active' } })).status, 200);
  let back = 0;
  for (const deadline = performance.now() + 1000; performance.now() < deadline && back !== 200; ) back = (await call('/api/backends/acme-1', { method: 'PUT', token: op, body: { weight: 1 } })).status;
  t.equal(back, 200, 'active again: writes work');
});

t.test('the last platform admin cannot be demoted, disabled or deleted (409 VF_ERR_LAST_ADMIN)', async (t) => {
  const rootId = (await call('/api/auth/me', { token: admin })).body.id as string;
  for (const [what, init] of [
    ['demoted', { method: 'PATCH', body: { role: 'operator' } }],
    ['disabled', { method: 'PATCH', body: { disabled: true } }],
    ['deleted', { method: 'DELETE' }],
  ] as const) {
    const res = await call(`/api/admin/users/${rootId}`, { token: admin, ...init });
    t.same([res.status, res.body?.error?.code], [409, 'VF_ERR_LAST_ADMIN'], `${what}: 409`);
  }
  t.equal((await statuses(admin)).every((s) => s === 200), true, 'still an admin');
  const second = await makeUser('second-admin@test.local', 'admin');
  t.match(await call(`/api/admin/users/${second}`, { method: 'PATCH', token: admin, body: { role: 'viewer' } }), { status: 200, body: { role: 'viewer' } }, 'another admin may be demoted');
});

t.test('accounts and invites name only tenants that exist', async (t) => {
  for (const [what, path, body] of [
    ['create a user', '/api/admin/users', { email: 'ghost@test.local', password: PASSWORD, role: 'viewer', tenant: 'ghost' }],
    ['register', '/api/auth/register', { email: 'ghost@test.local', password: PASSWORD, tenant: 'ghost' }],
    ['invite', '/api/auth/invites', { role: 'viewer', tenant: 'ghost' }],
  ] as const) {
    const res = await call(path, { token: admin, body });
    t.same([res.status, res.body.error.code, res.body.error.message], [400, 'VF_ERR_VALIDATION', 'no tenant "ghost"'], `${what}: 400`);
  }
});

t.test('instances sharing Redis: a logout or a disabled user on one ends access on the other within a second', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const config = { server: { redis: { url: redis.url, keyPrefix: `vf-${randomBytes(3).toString('hex')}:` } }, pools: [], routes: [] };
  const instances: RunningVeloflux[] = [await startVeloflux(config), await startVeloflux(config)];
  t.teardown(() => Promise.all(instances.map((vf) => vf.stop())));
  const [a, b] = instances as [RunningVeloflux, RunningVeloflux];
  const on = (vf: RunningVeloflux, path: string, init: ApiCall = {}) => apiCall(vf.apiUrl, path, init);

  const msUntil401 = async (vf: RunningVeloflux, token: string) => {
    const started = performance.now();
    while (performance.now() - started < 1000) if ((await on(vf, '/api/auth/me', { token })).status === 401) return performance.now() - started;
    return Number.POSITIVE_INFINITY;
  };
  const rootOnA = (await on(a, '/api/auth/login', { body: { email: TEST_API_ADMIN.email, password: TEST_API_ADMIN.password } })).body;
  t.equal((await on(b, '/api/auth/me', { token: rootOnA.accessToken })).status, 200, "A's token works on B");
  t.equal((await on(b, '/api/auth/logout', { token: rootOnA.accessToken })).status, 200, 'logged out on B');
  t.ok((await msUntil401(a, rootOnA.accessToken)) <= 1000, 'refused on A within a second');

  const admin = (await on(a, '/api/auth/login', { body: { email: TEST_API_ADMIN.email, password: TEST_API_ADMIN.password } })).body.accessToken as string;
  const made = await on(a, '/api/admin/users', { token: admin, body: { email: 'shared@test.local', password: PASSWORD, role: 'operator' } });
  t.equal(made.status, 201);
  let user: { accessToken: string } | undefined;
  for (const deadline = performance.now() + 1000; user === undefined && performance.now() < deadline; ) {
    const res = await on(b, '/api/auth/login', { body: { email: 'shared@test.local', password: PASSWORD } });
    if (res.status === 200) user = res.body;
  }
  t.ok(user !== undefined, 'the user made on A logs in on B');
  t.equal((await on(a, `/api/admin/users/${made.body.id}`, { method: 'PATCH', token: admin, body: { disabled: true } })).status, 200, 'disabled on A');
  t.ok((await msUntil401(b, user!.accessToken)) <= 1000, "its token is refused on B within a second");
});
