/**
 * Backend ids per tenant on a real VeloFlux (issue 14, item 8). Tenants "acme" and "acme-corp":
 * under the old rule (a tenant's ids start with "<tenant>-") an acme operator got 409 for
 * "acme-corp-1", confirming acme-corp's backend, and 201 for "acme-corp-2", taking an id in
 * acme-corp's name space. Now an acme user's ids are "acme.<name>": those two requests create
 * "acme.acme-corp-1" and "acme.acme-corp-2", and asking for an id of another tenant is refused
 * for its shape, with the same answer whether it exists or not.
 */
import t from 'tap';
import { startVeloflux, TEST_API_ADMIN } from '../helpers/veloflux.js';
import { apiCall, type ApiAnswer, type ApiCall } from '../helpers/api.js';

// Private addresses nothing answers on: the backend address policy refuses loopback for tenants.
const ACME_URL = 'http://10.255.0.1:9';
const ACME_CORP_URL = 'http://10.255.0.2:9';
const vf = await startVeloflux({
  pools: [
    { name: 'acme-web', backends: [{ id: 'acme-1', url: ACME_URL }] },
    { name: 'acme-corp-web', backends: [{ id: 'acme-corp-1', url: ACME_CORP_URL }] },
  ],
  routes: [
    { path: '/acme/', pool: 'acme-web', tenant: 'acme' },
    { path: '/acme-corp/', pool: 'acme-corp-web', tenant: 'acme-corp' },
  ],
});
t.teardown(() => vf.stop());

const call = (path: string, init: ApiCall = {}): Promise<ApiAnswer> => apiCall(vf.apiUrl, path, init);
const PASSWORD = 'backend-ids-password-0123';
const tokenOf = async (email: string, password = PASSWORD) => (await call('/api/auth/login', { body: { email, password } })).body.accessToken as string;
const admin = await tokenOf(TEST_API_ADMIN.email, TEST_API_ADMIN.password);
for (const id of ['acme', 'acme-corp']) {
  const made = [await call('/api/tenants', { token: admin, body: { id, name: id } }), await call('/api/admin/users', { token: admin, body: { email: `op@${id}.test`, password: PASSWORD, role: 'operator', tenant: id } })];
  if (made.some((res) => res.status !== 201)) throw new Error(`setup of tenant ${id}: ${JSON.stringify(made)}`);
}
const acme = await tokenOf('op@acme.test');
const corp = await tokenOf('op@acme-corp.test');
const add = (token: string, id: string, pool: string) => call('/api/backends', { token, body: { id, pool, url: pool === 'acme-corp-web' ? ACME_CORP_URL : ACME_URL } });

t.test("acme can neither probe nor take acme-corp's ids", async (t) => {
  t.match(await add(acme, 'acme-corp-1', 'acme-web'), { status: 201, body: { id: 'acme.acme-corp-1', pool: 'acme-web' } }, 'no 409 for acme-corp-1: a backend of acme, in its own space');
  t.match(await add(acme, 'acme-corp-2', 'acme-web'), { status: 201, body: { id: 'acme.acme-corp-2' } }, "acme-corp-2 did not go into acme-corp's space");
  t.match(await add(corp, 'web-1', 'acme-corp-web'), { status: 201, body: { id: 'acme-corp.web-1' } });
  const existing = await add(acme, 'acme-corp.web-1', 'acme-web');
  const missing = await add(acme, 'acme-corp.web-9', 'acme-web');
  t.equal(existing.status, 400);
  t.same([existing.status, existing.body.error.code, existing.body.error.message], [missing.status, missing.body.error.code, missing.body.error.message], "another tenant's existing id answers exactly like a missing one");
  t.match(await add(acme, 'acme.acme-corp-1', 'acme-web'), { status: 409, body: { error: { code: 'VF_ERR_BACKEND_EXISTS' } } }, 'a 409 only ever names one of your own');
});

t.test('a tenant user sees its ids the same way everywhere', async (t) => {
  const list = (await call('/api/backends', { token: acme })).body.backends as { id: string }[];
  t.same(list.map((b) => b.id).sort(), ['acme-1', 'acme.acme-corp-1', 'acme.acme-corp-2']);
  t.match(await call('/api/backends/acme.acme-corp-1', { token: acme }), { status: 200, body: { id: 'acme.acme-corp-1', pool: 'acme-web' } });
  t.match(await call('/api/backends/acme.acme-corp-1', { method: 'PUT', token: acme, body: { weight: 2 } }), { status: 200, body: { id: 'acme.acme-corp-1', weight: 2 } });
  t.equal((await call('/api/backends/acme-corp.web-1', { token: acme })).status, 404, "acme-corp's own backend stays hidden");
  t.equal((await call('/api/backends/acme.acme-corp-1', { token: corp })).status, 404, "and acme's from acme-corp");
});

t.test("a platform user puts an id of a tenant's space only into that tenant's pools", async (t) => {
  t.match(await add(admin, 'acme.by-admin', 'acme-corp-web'), { status: 400, body: { error: { code: 'VF_ERR_VALIDATION', message: /belongs to tenant "acme"/ } } });
  t.match(await add(admin, 'acme.by-admin', 'acme-web'), { status: 201, body: { id: 'acme.by-admin' } });
  t.match(await add(admin, 'plain-1', 'acme-corp-web'), { status: 201, body: { id: 'plain-1' } }, 'ids without "." go anywhere');
});
