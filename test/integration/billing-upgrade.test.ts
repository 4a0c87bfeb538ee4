/**
 * Plan changes (issue 16) on a real VeloFlux with two workers and a 6 s billing period: an upgrade
 * applies at once (the plan's rate limit stops on the data plane) with proration lines that land on
 * the period's invoice; the same request with the same Idempotency-Key changes nothing twice; a
 * downgrade waits for the period's end unless immediate; bad input and roles are refused with the
 * documented codes; a tenant with open invoices cannot be deleted.
 */
import t from 'tap';
import { startVeloflux, TEST_API_ADMIN } from '../helpers/veloflux.js';
import { startUpstream } from '../helpers/upstream.js';
import { until } from '../helpers/until.js';
import { apiCall, expectStatus, type ApiAnswer } from '../helpers/api.js';

const ok = expectStatus;


const upstream = await startUpstream();
const vf = await startVeloflux(
  {
    pools: [{ name: 'web', backends: [{ id: 'web-1', url: upstream.url }] }],
    billing: {
      period: '6s',
      plans: [
        { id: 'basic', name: 'Basic', price: 1000, limits: { requestsPerSecond: 1, burst: 1 } },
        { id: 'pro', name: 'Pro', price: 2000 },
        { id: 'tiny', name: 'Tiny', price: 500, limits: { maxRoutes: 1 } },
        { id: 'cheap', name: 'Cheap', price: 300 },
      ],
    },
    routes: [
      { path: '/acme/', pool: 'web', tenant: 'acme' },
      { path: '/acme2/', pool: 'web', tenant: 'acme' },
      { path: '/globex/', pool: 'web', tenant: 'globex' },
    ],
  },
  { workers: 2 },
);
t.teardown(async () => {
  await vf.stop();
  await upstream.close();
});

const login = async (body: unknown) => ok(await apiCall(vf.apiUrl, '/api/auth/login', { body }), 200, 'login').body.accessToken as string;
const admin = await login(TEST_API_ADMIN);
for (const id of ['acme', 'globex', 'initech']) ok(await apiCall(vf.apiUrl, '/api/tenants', { token: admin, body: { id, name: id, plan: 'basic' } }), 201, `tenant ${id}`);
const password = 'upgrade-test-password-1';
const user = async (email: string, role: string, tenant: string) => {
  ok(await apiCall(vf.apiUrl, '/api/admin/users', { token: admin, body: { email, password, role, tenant } }), 201, email);
  return login({ email, password });
};
const acmeOperator = await user('op@acme.test', 'operator', 'acme');
const acmeViewer = await user('v@acme.test', 'viewer', 'acme');
const globexOperator = await user('op@globex.test', 'operator', 'globex');

async function upgrade(token: string, body: unknown, key?: string): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${vf.apiUrl}/api/billing/upgrade`, {
    method: 'POST',
    headers: { connection: 'close', authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(key !== undefined ? { 'idempotency-key': key } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}
const planOf = async (tenant: string) => ok(await apiCall(vf.apiUrl, `/api/tenants/${tenant}`, { token: admin }), 200, 'tenant').body.plan as string;
const burst = async (path: string, n: number) => {
  const statuses = await Promise.all(Array.from({ length: n }, () => fetch(`${vf.url}${path}`, { headers: { connection: 'close' } }).then(async (r) => (await r.arrayBuffer(), r.status))));
  return statuses.filter((s) => s === 200).length;
};
const invoicesOf = async (tenant: string) => {
  const summaries = ok(await apiCall(vf.apiUrl, `/api/billing/history?tenant=${tenant}`, { token: admin }), 200, 'history').body.invoices as any[];
  return Promise.all(summaries.map(async (s) => ok(await apiCall(vf.apiUrl, `/api/billing/invoices/${s.number}`, { token: admin }), 200, 'invoice').body));
};

t.test('refused: unknown plan (400, named), current plan (409), over a hard limit (409, what to remove), viewers, other tenants', async (t) => {
  const unknown = await upgrade(acmeOperator, { plan: 'gold' });
  t.match(unknown, { status: 400, body: { error: { code: 'VF_ERR_UNKNOWN_PLAN', message: /"gold"/ } } });
  t.match(await upgrade(acmeOperator, { plan: 'basic' }), { status: 409, body: { error: { code: 'VF_ERR_PLAN_UNCHANGED' } } });
  const tiny = await upgrade(acmeOperator, { plan: 'tiny', immediate: true });
  t.match(tiny, { status: 409, body: { error: { code: 'VF_ERR_PLAN_LIMITS', message: /2 routes .* allows 1: remove 1 of \*\/acme\/, \*\/acme2\// } } });
  t.match(await upgrade(acmeViewer, { plan: 'pro' }), { status: 403, body: { error: { code: 'VF_ERR_FORBIDDEN' } } });
  t.match(await upgrade(globexOperator, { plan: 'pro', tenant: 'acme' }), { status: 404 }, "another tenant's is not found");
  t.match(await upgrade(admin, { plan: 'pro' }), { status: 400 }, 'platform users name the tenant');
  t.equal((await apiCall(vf.apiUrl, '/api/billing/upgrade', { body: { plan: 'pro' } })).status, 401);
  t.equal(await planOf('acme'), 'basic', 'nothing changed');
});

t.test('an upgrade applies at once, once per Idempotency-Key, and its prorations land on the invoice', async (t) => {
  t.ok((await burst('/acme/x', 10)) <= 4, "Basic's 1 request/s holds before");
  const preview = await upgrade(acmeOperator, { plan: 'pro', preview: true });
  t.match(preview, { status: 200, body: { preview: true, from: 'basic', to: 'pro', effective: 'now' } }, 'a preview says what would happen');
  t.equal(preview.body.prorations.length, 2, 'with the proration lines');
  t.equal(await planOf('acme'), 'basic', 'and changes nothing');
  const first = await upgrade(acmeOperator, { plan: 'pro' }, 'upgrade-acme-1');
  t.equal(first.status, 200, JSON.stringify(first.body));
  t.match(first.body, { tenant: 'acme', from: 'basic', to: 'pro', effective: 'now', currency: 'USD' });
  t.equal(first.body.prorations.length, 2);
  t.ok(first.body.prorations[0].amount <= 0 && first.body.prorations[1].amount >= 0, 'a credit and a charge');
  t.equal(first.body.prorationTotal, first.body.prorations[0].amount + first.body.prorations[1].amount);
  // Pro costs twice Basic: the charge is twice the credit, give or take the rounding of each.
  t.ok(Math.abs(first.body.prorations[1].amount + 2 * first.body.prorations[0].amount) <= 2);

  const replay = await upgrade(acmeOperator, { plan: 'pro' }, 'upgrade-acme-1');
  t.same([replay.status, replay.body], [200, first.body], 'the same answer again');
  t.equal(replay.headers.get('idempotent-replayed'), 'true');
  t.match(await upgrade(acmeOperator, { plan: 'cheap' }, 'upgrade-acme-1'), { status: 409, body: { error: { code: 'VF_ERR_IDEMPOTENCY_CONFLICT' } } }, 'the key with another request');
  t.match(await upgrade(acmeOperator, { plan: 'pro' }), { status: 409, body: { error: { code: 'VF_ERR_PLAN_UNCHANGED' } } }, 'without the key it is a second request');
  t.equal(await planOf('acme'), 'pro');
  await until('no rate limit on both workers', 5000, async () => ((await burst('/acme/y', 10)) === 10 ? true : undefined));
  t.pass('the data plane follows at once');

  const at = Date.parse(first.body.effectiveAt);
  const invoice = await until('the invoice of the period of the upgrade', 20_000, async () => (await invoicesOf('acme')).find((i) => Date.parse(i.period.start) <= at && at < Date.parse(i.period.end)));
  const prorations = invoice.lines.filter((l: any) => l.kind === 'proration');
  t.same(prorations, first.body.prorations, 'its prorations, once');
  t.same(invoice.lines[0], { kind: 'plan', description: 'Basic plan', quantity: 1, unitPrice: 1000, per: 1, amount: 1000 }, 'the fee of the plan at the start');
  t.equal(invoice.total, 1000 + first.body.prorationTotal);
});

t.test('a downgrade waits for the period end unless immediate', async (t) => {
  const scheduled = await upgrade(acmeOperator, { plan: 'cheap' });
  t.match(scheduled, { status: 200, body: { effective: 'period-end', from: 'pro', to: 'cheap', prorations: [] } });
  t.match(await upgrade(acmeOperator, { plan: 'cheap' }), { status: 409, body: { error: { code: 'VF_ERR_PLAN_UNCHANGED' } } }, 'already scheduled');
  t.equal(await planOf('acme'), 'pro', 'still Pro until the period ends');
  const effectiveAt = Date.parse(scheduled.body.effectiveAt);
  await until('the move at the period end', 15_000, async () => ((await planOf('acme')) === 'cheap' ? true : undefined));
  t.ok(Date.now() >= effectiveAt, 'not before the period ended');
  const next = await until('the invoice of the next period', 20_000, async () => (await invoicesOf('acme')).find((i) => Date.parse(i.period.start) === effectiveAt));
  t.same(next.lines, [{ kind: 'plan', description: 'Cheap plan', quantity: 1, unitPrice: 300, per: 1, amount: 300 }], 'the new fee, no prorations');

  const immediate = await upgrade(globexOperator, { plan: 'cheap', immediate: true });
  t.match(immediate, { status: 200, body: { effective: 'now', from: 'basic', to: 'cheap' } });
  t.ok(immediate.body.prorationTotal <= 0, `a net credit (${immediate.body.prorationTotal})`);
  t.equal(await planOf('globex'), 'cheap');
});

t.test('a tenant with open invoices cannot be deleted', async (t) => {
  await until('an invoice for initech', 15_000, async () => ((await invoicesOf('initech')).length > 0 ? true : undefined));
  const refused = await apiCall(vf.apiUrl, '/api/tenants/initech', { token: admin, method: 'DELETE' });
  t.match(refused, { status: 409, body: { error: { code: 'VF_ERR_INVOICES_UNPAID', message: /open invoice/ } } });
  // A period may close between settling and deleting: settle again then.
  let deleted = 0;
  for (let attempt = 0; attempt < 3 && deleted !== 204; attempt++) {
    for (const invoice of await invoicesOf('initech')) if (invoice.status === 'open') ok(await apiCall(vf.apiUrl, `/api/billing/invoices/${invoice.number}/status`, { token: admin, body: { status: 'void' } }), 200, 'void');
    deleted = (await apiCall(vf.apiUrl, '/api/tenants/initech', { token: admin, method: 'DELETE' })).status;
  }
  t.equal(deleted, 204, 'deleted once every invoice is settled');
});
