/**
 * Tenancy on the data plane (issue 16): a suspended tenant's routes answer 403 on every worker
 * within a second of the change, and serve again when it is reactivated; a plan's requests/s is
 * enforced per tenant; other tenants and routes without a tenant are untouched.
 */
import t from 'tap';
import { startVeloflux, TEST_API_ADMIN } from '../helpers/veloflux.js';
import { startUpstream } from '../helpers/upstream.js';
import { apiCall, expectStatus, type ApiAnswer } from '../helpers/api.js';

const upstream = await startUpstream();
const vf = await startVeloflux(
  {
    pools: [{ name: 'web', backends: [{ id: 'web-1', url: upstream.url }] }],
    billing: {
      defaultPlan: 'free',
      plans: [
        { id: 'free', name: 'Free', limits: { requestsPerSecond: 2, burst: 4 } },
        { id: 'pro', name: 'Pro', price: 2000 },
      ],
    },
    routes: [
      { path: '/acme/', pool: 'web', tenant: 'acme' },
      { path: '/globex/', pool: 'web', tenant: 'globex' },
      { path: '/open/', pool: 'web' },
    ],
  },
  { workers: 2 },
);
t.teardown(async () => {
  await vf.stop();
  await upstream.close();
});

const ok = expectStatus;
const admin = (await apiCall(vf.apiUrl, '/api/auth/login', { body: TEST_API_ADMIN })).body.accessToken as string;
ok(await apiCall(vf.apiUrl, '/api/tenants', { token: admin, body: { id: 'acme', name: 'Acme', plan: 'pro' } }), 201, 'tenant acme');
ok(await apiCall(vf.apiUrl, '/api/tenants', { token: admin, body: { id: 'globex', name: 'Globex', plan: 'free' } }), 201, 'tenant globex');

/** A new connection each time, so the primary hands requests to both workers in turn. */
async function get(path: string): Promise<{ status: number; code: string | undefined; headers: Headers }> {
  const res = await fetch(`${vf.url}${path}`, { headers: { connection: 'close' } });
  const text = await res.text();
  const code = res.headers.get('content-type')?.startsWith('application/json') && res.status >= 400 ? (JSON.parse(text) as { error: { code: string } }).error.code : undefined;
  return { status: res.status, code, headers: res.headers };
}

t.test('suspended: 403 on both workers within a second, nothing reaches the upstream; reactivated: served again', async (t) => {
  t.equal((await get('/acme/a')).status, 200);
  ok(await apiCall(vf.apiUrl, '/api/tenants/acme', { token: admin, method: 'PUT', body: { status: 'suspended' } }), 200, 'suspend');
  const changedAt = Date.now();
  let refusedInARow = 0;
  while (refusedInARow < 6 && Date.now() - changedAt < 5000) {
    const answer = await get('/acme/b');
    refusedInARow = answer.status === 403 ? refusedInARow + 1 : 0;
  }
  const elapsed = Date.now() - changedAt;
  t.equal(refusedInARow, 6, 'six requests in a row (both workers) refused');
  t.ok(elapsed < 1000, `enforced everywhere in ${elapsed} ms`);
  const seenBefore = upstream.requests.length;
  const refused = await get('/acme/c');
  t.match(refused, { status: 403, code: 'VF_ERR_TENANT_SUSPENDED' });
  t.equal(upstream.requests.length, seenBefore, 'the upstream saw nothing of it');
  t.equal((await get('/open/x')).status, 200, 'routes without a tenant serve');

  ok(await apiCall(vf.apiUrl, '/api/tenants/acme', { token: admin, method: 'PUT', body: { status: 'active' } }), 200, 'reactivate');
  let servedInARow = 0;
  const reactivatedAt = Date.now();
  while (servedInARow < 4 && Date.now() - reactivatedAt < 5000) servedInARow = (await get('/acme/d')).status === 200 ? servedInARow + 1 : 0;
  t.equal(servedInARow, 4, 'served again on both workers');
});

t.test("the plan's requests/s holds per tenant; a plan without one does not limit", async (t) => {
  const answers = await Promise.all(Array.from({ length: 20 }, () => get('/globex/burst')));
  const served = answers.filter((a) => a.status === 200).length;
  const limited = answers.filter((a) => a.status === 429);
  t.ok(served >= 1 && served <= 6, `burst 4 (+ refill): ${served} of 20 served`);
  t.ok(limited.length >= 14, `${limited.length} refused`);
  t.match(limited[0], { code: 'VF_ERR_RATE_LIMITED' });
  t.ok(Number(limited[0]!.headers.get('retry-after')) >= 1, 'Retry-After says when');
  const pro = await Promise.all(Array.from({ length: 20 }, () => get('/acme/burst')));
  t.same(new Set(pro.map((a) => a.status)), new Set([200]), 'acme on pro: no requests/s limit');
});
