/**
 * Invoices (issue 16) on two real VeloFlux instances sharing one real Redis, with a 6 s billing
 * period so the test sees periods close: each tenant's period becomes exactly one invoice (plan
 * fee, overage tiers, usage of both instances), numbered 1..N without gaps even when the leader is
 * killed with SIGKILL and the other instance takes over; history and one invoice as JSON and CSV,
 * scoped to the tenant's users; paid/void by platform admins only.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { startVeloflux, TEST_API_ADMIN, type RunningVeloflux } from '../helpers/veloflux.js';
import { startUpstream } from '../helpers/upstream.js';
import { startRedis } from '../helpers/redis.js';
import { until } from '../helpers/until.js';
import { apiCall, expectStatus, type ApiAnswer } from '../helpers/api.js';

const PERIOD_MS = 6000;

const ok = expectStatus;


const redis = await startRedis();
const upstream = await startUpstream();
const config = {
  server: { redis: { url: redis.url, keyPrefix: `vf-${randomBytes(3).toString('hex')}:` } },
  pools: [{ name: 'web', backends: [{ id: 'web-1', url: upstream.url }] }],
  billing: { period: '6s', plans: [{ id: 'pro', name: 'Pro', price: 1000, included: { requests: 5 }, overage: { requests: [{ price: 10 }] } }] },
  routes: [
    { path: '/acme/', pool: 'web', tenant: 'acme' },
    { path: '/globex/', pool: 'web', tenant: 'globex' },
  ],
};
const a = await startVeloflux(config);
const b = await startVeloflux(config);
t.teardown(async () => {
  await Promise.all([a.stop(), b.stop()]);
  await upstream.close();
  await redis.stop();
});
const login = async (vf: RunningVeloflux, body: unknown) => ok(await apiCall(vf.apiUrl, '/api/auth/login', { body }), 200, 'login').body.accessToken as string;
const admin = await login(a, TEST_API_ADMIN);
ok(await apiCall(a.apiUrl, '/api/tenants', { token: admin, body: { id: 'acme', name: 'Acme', plan: 'pro' } }), 201, 'tenant acme');
ok(await apiCall(a.apiUrl, '/api/tenants', { token: admin, body: { id: 'globex', name: 'Globex', plan: 'pro' } }), 201, 'tenant globex');
const password = 'invoice-viewer-password-1';
ok(await apiCall(a.apiUrl, '/api/admin/users', { token: admin, body: { email: 'v@globex.test', password, role: 'viewer', tenant: 'globex' } }), 201, 'globex viewer');

const history = async (vf: RunningVeloflux, tenant: string, token = admin) => ok(await apiCall(vf.apiUrl, `/api/billing/history?tenant=${tenant}`, { token }), 200, 'history').body.invoices as any[];

async function allInvoices(): Promise<any[]> {
  const summaries = [...(await history(a, 'acme')), ...(await history(a, 'globex'))];
  return Promise.all(summaries.map(async (s) => ok(await apiCall(a.apiUrl, `/api/billing/invoices/${s.number}`, { token: admin }), 200, 'invoice').body));
}

const send = async (vf: RunningVeloflux, path: string) => {
  const res = await fetch(`${vf.url}${path}`, { headers: { connection: 'close' } });
  await res.arrayBuffer();
  return res.status;
};

let billedPeriod = 0;

t.test("a period's usage on both instances closes into one invoice per tenant", async (t) => {
  // Start right after a period begins, so every request falls in it.
  while (Date.now() % PERIOD_MS > 800) await new Promise((r) => setTimeout(r, 50));
  billedPeriod = Date.now() - (Date.now() % PERIOD_MS);
  let served = 0;
  for (let i = 0; i < 8; i++) served += (await send(a, `/acme/a${i}`)) === 200 ? 1 : 0;
  for (let i = 0; i < 4; i++) served += (await send(b, `/acme/b${i}`)) === 200 ? 1 : 0;
  t.equal(served, 12);
  const invoice = await until('the period closed', 20_000, async () => {
    const found = (await history(b, 'acme')).find((i) => Date.parse(i.period.start) === billedPeriod);
    return found === undefined ? undefined : ok(await apiCall(b.apiUrl, `/api/billing/invoices/${found.number}`, { token: admin }), 200, 'invoice').body;
  });
  t.ok(Date.now() >= billedPeriod + PERIOD_MS, 'only after the period ended');
  t.match(invoice, { tenant: 'acme', status: 'open', currency: 'USD', plan: { id: 'pro' }, usage: { requests: 12 } });
  // 12 requests, 5 included: 7 x 10 = 70 over the 1000 fee.
  t.same(invoice.lines.map((l: any) => [l.kind, l.quantity, l.unitPrice, l.amount]), [['plan', 1, 1000, 1000], ['overage', 7, 10, 70]]);
  t.equal(invoice.total, 1070);
  const globex = (await history(a, 'globex')).find((i) => Date.parse(i.period.start) === billedPeriod);
  t.match(globex, { total: 1000, status: 'open' }, 'a tenant without traffic still owes the fee');

  const csv = await fetch(`${a.apiUrl}/api/billing/invoices/${invoice.number}?format=csv`, { headers: { authorization: `Bearer ${admin}` } });
  t.match(csv.headers.get('content-type'), /^text\/csv/);
  const text = await csv.text();
  t.ok(text.includes('overage,requests 6-12 (tier 1),requests,7,10,1,70,USD\r\n'), text);
  t.ok(text.includes('total,,,,,,1070,USD\r\n'));
  const byAccept = await fetch(`${a.apiUrl}/api/billing/invoices/${invoice.number}`, { headers: { authorization: `Bearer ${admin}`, accept: 'text/csv' } });
  t.equal(await byAccept.text(), text, 'Accept: text/csv gives the same');
});

t.test('the leader killed with SIGKILL: the other closes the next periods, still exactly once and without gaps', async (t) => {
  const leader = await until('a leader', 15_000, async () => {
    const status = ok(await apiCall(a.apiUrl, '/api/status', { token: admin }), 200, 'status').body;
    return status.leader ?? undefined;
  });
  const [victim, survivor] = a.logs().find((l) => l.msg === 'veloflux ready')?.nodeId === leader ? [a, b] : [b, a];
  const before = (await allInvoices()).length;
  process.kill(victim.process.pid!, 'SIGKILL');
  await victim.exited;
  // The lease expires, the survivor leads and closes the periods that end from then on.
  const later = await until('two more periods closed by the survivor', 40_000, async () => {
    const invoices = [...(await history(survivor, 'acme')), ...(await history(survivor, 'globex'))];
    return invoices.length >= before + 4 ? invoices : undefined;
  });
  const numbers = later.map((i) => i.number).sort((x, y) => x - y);
  t.same(numbers, Array.from({ length: numbers.length }, (_, i) => i + 1), `numbered 1..${numbers.length} without gaps`);
  const keys = later.map((i) => `${i.tenant}@${i.period.start}`);
  t.equal(new Set(keys).size, keys.length, 'no tenant and period twice');
  const created = [...a.logs(), ...b.logs()].filter((l) => l.msg === 'billing period closed into an invoice').length;
  t.ok(created <= numbers.length && created >= numbers.length - 1, `invoices written by the closers (${created}) match the numbers used (one may have been finished by the survivor)`);
  t.ok(keys.includes(`acme@${new Date(billedPeriod).toISOString()}`));
});

t.test("a tenant's users see their own invoices only; platform admins mark them paid or void, once", async (t) => {
  const alive = a.process.signalCode === null ? a : b;
  const viewer = await login(alive, { email: 'v@globex.test', password });
  const own = ok(await apiCall(alive.apiUrl, '/api/billing/history', { token: viewer }), 200, 'own history').body;
  t.equal(own.tenant, 'globex');
  t.ok(own.invoices.length >= 1 && own.invoices.every((i: any) => i.tenant === 'globex'));
  const acme = (await history(alive, 'acme'))[0];
  t.equal((await apiCall(alive.apiUrl, `/api/billing/invoices/${acme.number}`, { token: viewer })).status, 404, "another tenant's invoice is not found");
  t.equal((await apiCall(alive.apiUrl, '/api/billing/history?tenant=acme', { token: viewer })).status, 404);
  t.equal((await apiCall(alive.apiUrl, `/api/billing/invoices/${own.invoices[0].number}`, { token: viewer })).status, 200);
  t.equal((await apiCall(alive.apiUrl, `/api/billing/invoices/${acme.number}/status`, { token: viewer, body: { status: 'paid' } })).status, 403, 'viewers may not');
  t.equal((await apiCall(alive.apiUrl, '/api/billing/invoices/999999', { token: admin })).status, 404);
  t.match(ok(await apiCall(alive.apiUrl, `/api/billing/invoices/${acme.number}/status`, { token: admin, body: { status: 'paid' } }), 200, 'paid').body, { status: 'paid' });
  const again = await apiCall(alive.apiUrl, `/api/billing/invoices/${acme.number}/status`, { token: admin, body: { status: 'void' } });
  t.match(again, { status: 409, body: { error: { code: 'VF_ERR_INVOICE_NOT_OPEN' } } });
  t.equal((await apiCall(alive.apiUrl, `/api/billing/invoices/${acme.number}`, { token: viewer })).status, 404);
});
