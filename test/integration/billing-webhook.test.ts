/**
 * Billing events (issue 16) to a real HTTP receiver on loopback: invoice closed, plan changed and
 * quota warnings at 80% and 100% of a soft quota arrive signed as documented (verified here with
 * HMAC-SHA256 of "<t>.<body>"), the first attempt of each is refused and retried with the same
 * body and event id, and an event still undelivered when VeloFlux stops is sent after a restart
 * (the outbox lives in the state store).
 */
import t from 'tap';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { launchVeloflux, startVeloflux, TEST_API_ADMIN, type RunningVeloflux } from '../helpers/veloflux.js';
import { startUpstream } from '../helpers/upstream.js';
import { until } from '../helpers/until.js';
import { apiCall, expectStatus, type ApiAnswer } from '../helpers/api.js';

const SECRET = 'whsec-test-0123456789abcdef';

const ok = expectStatus;


/** The documented check: t and v1 from the header, HMAC-SHA256(secret, "<t>.<body>") in hex, compared in constant time. */
function verify(header: string | undefined, body: string, secret: string): boolean {
  const parts = Object.fromEntries((header ?? '').split(',').map((kv) => kv.split('=', 2) as [string, string]));
  if (parts.t === undefined || parts.v1 === undefined || !/^\d+$/.test(parts.t)) return false;
  const expected = createHmac('sha256', secret).update(`${parts.t}.${body}`).digest();
  const given = Buffer.from(parts.v1, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

interface Attempt {
  at: number;
  id: string;
  type: string;
  body: string;
  signed: boolean;
  answered: number;
}
const attempts: Attempt[] = [];
let refuseAll = false;
const receiver = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => (body += chunk));
  req.on('end', () => {
    const id = String(req.headers['veloflux-event-id']);
    const signed = verify(req.headers['veloflux-signature'] as string | undefined, body, SECRET);
    // Every event's first attempt fails, as a receiver having a bad moment would.
    const first = !attempts.some((a) => a.id === id);
    const answered = refuseAll || first || !signed ? 500 : 204;
    attempts.push({ at: Date.now(), id, type: String(req.headers['veloflux-event-type']), body, signed, answered });
    res.writeHead(answered).end();
  });
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const upstream = await startUpstream();
t.teardown(async () => {
  receiver.close();
  await upstream.close();
});

const options = { env: { TEST_BILLING_SECRET: SECRET } };
let vf: RunningVeloflux = await startVeloflux(
  {
    pools: [{ name: 'web', backends: [{ id: 'web-1', url: upstream.url }] }],
    billing: {
      period: '6s',
      webhook: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/billing`, secretEnv: 'TEST_BILLING_SECRET' },
      plans: [
        { id: 'pro', name: 'Pro', price: 1000, limits: { monthlyRequests: 10, quota: 'soft' } },
        { id: 'max', name: 'Max', price: 3000 },
      ],
    },
    routes: [{ path: '/acme/', pool: 'web', tenant: 'acme' }],
  },
  options,
);
t.teardown(() => vf.stop());
const login = async () => ok(await apiCall(vf.apiUrl, '/api/auth/login', { body: TEST_API_ADMIN }), 200, 'login').body.accessToken as string;
let admin = await login();
ok(await apiCall(vf.apiUrl, '/api/tenants', { token: admin, body: { id: 'acme', name: 'Acme', plan: 'pro' } }), 201, 'tenant');

const delivered = (id: string) => attempts.find((a) => a.id === id && a.answered === 204);
const parsed = (a: Attempt) => JSON.parse(a.body) as { id: string; type: string; created: number; data: any };

t.test('quota warnings, a plan change and a closed invoice: signed, retried after a failed first attempt, same id and body', async (t) => {
  // A fresh period, so the 10 requests count in one.
  while (Date.now() % 6000 > 1000) await new Promise((r) => setTimeout(r, 50));
  for (let i = 0; i < 10; i++) {
    const res = await fetch(`${vf.url}/acme/${i}`, { headers: { connection: 'close' } });
    await res.arrayBuffer();
    t.equal(res.status, 200, 'a soft quota serves on');
  }
  // Both thresholds are crossed while the tenant is on Pro (its quota): wait for them before moving it.
  await until('both quota warnings attempted', 15_000, () => (new Set(attempts.filter((a) => a.type === 'quota.warning').map((a) => a.id)).size >= 2 ? true : undefined));
  const upgraded = ok(await apiCall(vf.apiUrl, '/api/billing/upgrade', { token: admin, body: { plan: 'max', tenant: 'acme' } }), 200, 'upgrade').body;

  const want = ['quota.warning', 'quota.warning', 'plan.changed', 'invoice.closed'];
  const done = await until(() => `every kind delivered (seen: ${JSON.stringify(attempts.map((a) => [a.type, a.answered, a.signed]))})`, 40_000, () => {
    const ids = [...new Set(attempts.filter((a) => a.answered === 204).map((a) => a.id))];
    const kinds = ids.map((id) => delivered(id)!.type);
    return want.every((k) => kinds.filter((x) => x === k).length >= want.filter((x) => x === k).length) ? ids : undefined;
  });
  for (const id of done) {
    const tries = attempts.filter((a) => a.id === id);
    t.ok(tries.length >= 2, `${id}: refused first, delivered on attempt ${tries.length}`);
    t.ok(tries.every((a) => a.signed), `${id}: every attempt signed with the secret`);
    t.equal(new Set(tries.map((a) => a.body)).size, 1, `${id}: the same body every time`);
    t.equal(parsed(tries[0]!).id, id, 'the body carries the event id');
    t.ok(tries[1]!.at - tries[0]!.at >= 900, `${id}: retried after a backoff (${tries[1]!.at - tries[0]!.at} ms)`);
  }
  const warnings = done.map((id) => parsed(delivered(id)!)).filter((e) => e.type === 'quota.warning');
  t.same(warnings.map((e) => e.data.threshold).sort(), [100, 80], '80% and 100%, once each');
  t.match(warnings[0]!.data, { tenant: 'acme', quota: 10, mode: 'soft' });
  const change = done.map((id) => parsed(delivered(id)!)).find((e) => e.type === 'plan.changed')!;
  t.match(change.data, { tenant: 'acme', from: 'pro', to: 'max', prorationTotal: upgraded.prorationTotal });
  const invoice = done.map((id) => parsed(delivered(id)!)).find((e) => e.type === 'invoice.closed')!;
  t.match(invoice.data, { tenant: 'acme', number: Number, status: 'open', lines: Array });

  const sample = delivered(done[0]!)!;
  t.notOk(verify(`t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}`, sample.body, SECRET), 'a forged signature does not verify');
  t.notOk(verify(`t=1,v1=${createHmac('sha256', SECRET).update(`1.${sample.body}`).digest('hex')}`, sample.body + ' ', SECRET), 'nor a changed body');
});

t.test('an event not delivered before a stop is sent after the restart, with the same id', async (t) => {
  refuseAll = true;
  const seen = attempts.length;
  ok(await apiCall(vf.apiUrl, '/api/billing/upgrade', { token: admin, body: { plan: 'pro', tenant: 'acme', immediate: true } }), 200, 'downgrade');
  const pending = await until('a refused attempt of the new event', 15_000, () => attempts.slice(seen).find((a) => a.type === 'plan.changed'));
  t.equal(pending.answered, 500);
  t.equal(await vf.stop(), 0, 'stopped cleanly');
  refuseAll = false;
  vf = await launchVeloflux(vf.configFile, options);
  admin = await login();
  const after = await until('the event delivered after the restart', 40_000, () => delivered(pending.id));
  t.equal(after.body, pending.body, 'the same event, byte for byte');
  t.match(parsed(after).data, { from: 'max', to: 'pro' });
  t.ok(after.signed);
});
