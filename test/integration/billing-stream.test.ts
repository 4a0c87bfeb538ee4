/**
 * The billing stream `/api/ws/billing` (issue 16) on a real VeloFlux with two workers and a 6 s
 * period: after the auth handshake a tenant's user gets its usage at once, updates every couple of
 * seconds that follow the traffic, the quota warnings (80% and 100% of a soft quota) and the
 * invoice when the period closes, and never another tenant's data; platform users see every
 * tenant; a bad token is refused with 4401.
 */
import t from 'tap';
import { WebSocket } from 'ws';
import { startVeloflux, TEST_API_ADMIN } from '../helpers/veloflux.js';
import { startUpstream } from '../helpers/upstream.js';
import { apiCall, expectStatus, type ApiAnswer } from '../helpers/api.js';

const ok = expectStatus;

const upstream = await startUpstream();
const vf = await startVeloflux(
  {
    pools: [{ name: 'web', backends: [{ id: 'web-1', url: upstream.url }] }],
    billing: { period: '6s', plans: [{ id: 'pro', name: 'Pro', price: 1000, limits: { monthlyRequests: 5, quota: 'soft' } }] },
    routes: [
      { path: '/acme/', pool: 'web', tenant: 'acme' },
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
for (const id of ['acme', 'globex']) ok(await apiCall(vf.apiUrl, '/api/tenants', { token: admin, body: { id, name: id, plan: 'pro' } }), 201, id);
const password = 'billing-stream-password-1';
ok(await apiCall(vf.apiUrl, '/api/admin/users', { token: admin, body: { email: 'v@acme.test', password, role: 'viewer', tenant: 'acme' } }), 201, 'viewer');
const viewer = await login({ email: 'v@acme.test', password });

/** A client of the billing stream that keeps every message and waits for one that matches. */
class Client {
  readonly ws = new WebSocket(`${vf.apiUrl.replace('http:', 'ws:')}/api/ws/billing`);
  readonly messages: any[] = [];
  closeCode: number | undefined;

  constructor(token: string) {
    this.ws.on('message', (data) => {
      const message = JSON.parse(String(data));
      this.messages.push({ ...message, receivedAt: Date.now() });
      if (message.type === 'auth_required') this.ws.send(JSON.stringify({ type: 'auth', token }));
    });
    this.ws.on('close', (code) => (this.closeCode = code));
  }

  async next(what: string, match: (m: any) => boolean, timeoutMs = 20_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(match);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`no ${what} in ${JSON.stringify(this.messages.map((m) => m.type))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

t.test("a tenant's user: snapshot, updates, quota warnings, the closed invoice; nothing of other tenants", async (t) => {
  const client = new Client(viewer);
  t.teardown(() => client.ws.close());
  t.equal((await client.next('auth_required', () => true)).type, 'auth_required');
  await client.next('auth_ok', (m) => m.type === 'auth_ok');
  const snapshot = await client.next('a snapshot', (m) => m.type === 'billing', 5000);
  t.match(snapshot.data, { tenant: 'acme', events: Array }, "the first data message is the tenant's snapshot");
  const snapshotIndex = client.messages.indexOf(snapshot);
  t.ok(client.messages.slice(0, snapshotIndex).every((m) => m.type !== 'billing'), 'the snapshot is the first data message');
  // A tenant created a moment ago has no usage summary until the primary's next billing build (every 2 s).
  const summary = await client.next('a usage summary', (m) => m.type === 'billing' && m.data.usage !== null, 6000);
  t.match(summary.data.usage, { tenant: 'acme', plan: { id: 'pro' }, usage: { requests: Number }, quota: { limit: 5, mode: 'soft' } });

  // A fresh period, so the 6 requests cross 80% and 100% of the quota of 5 within it.
  while (Date.now() % 6000 > 1000) await new Promise((r) => setTimeout(r, 50));
  for (let i = 0; i < 6; i++) await fetch(`${vf.url}/acme/${i}`, { headers: { connection: 'close' } }).then((r) => r.arrayBuffer());
  for (let i = 0; i < 3; i++) await fetch(`${vf.url}/globex/${i}`, { headers: { connection: 'close' } }).then((r) => r.arrayBuffer());
  const counted = await client.next('usage of 6 requests', (m) => m.type === 'billing' && m.data.usage?.usage.requests === 6);
  t.equal(counted.data.usage.quota.remaining, 0);
  const warnings = new Set<number>();
  await client.next('both quota warnings', (m) => {
    for (const e of m.data?.events ?? []) if (e.type === 'quota.warning') warnings.add(e.warning.threshold);
    return warnings.size === 2;
  });
  t.same([...warnings].sort(), [100, 80]);
  const closed = await client.next('a closed invoice', (m) => m.data?.events?.some((e: any) => e.type === 'invoice.closed'));
  t.match(closed.data.events.find((e: any) => e.type === 'invoice.closed').invoice, { tenant: 'acme', number: Number, status: 'open', currency: 'USD' });

  const billing = client.messages.filter((m) => m.type === 'billing');
  t.ok(billing.every((m) => m.data.tenant === 'acme' && m.data.events.every((e: any) => e.tenant === 'acme')), 'every message is about acme');
  t.notOk(billing.some((m) => JSON.stringify(m).includes('globex')), 'nothing of globex');
  // Between the snapshot and now (a period and more), updates came every couple of seconds.
  const gaps = billing.slice(1).map((m, i) => m.receivedAt - billing[i]!.receivedAt);
  t.ok(Math.max(...gaps) < 4500, `updates at most a few seconds apart (largest gap ${Math.max(...gaps)} ms)`);
});

t.test('platform users see every tenant; a bad token is refused with 4401', async (t) => {
  const platform = new Client(admin);
  t.teardown(() => platform.ws.close());
  const all = await platform.next('all tenants', (m) => m.type === 'billing');
  t.same(Object.keys(all.data.tenants).sort(), ['acme', 'globex']);
  const stranger = new Client('not-a-token');
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(stranger.closeCode, 4401);
  t.notOk(stranger.messages.some((m) => m.type === 'billing'), 'no data before auth');
});
