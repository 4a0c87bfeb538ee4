/**
 * Usage metering (issue 16) on a real VeloFlux with two workers: requests, bytes both ways and a
 * WebSocket session through a tenant's route show in GET /api/billing/usage exactly; refused
 * requests and routes without a tenant are not billed; a worker killed with SIGKILL and replaced
 * counts nothing twice; a hard quota gives 429 with its reset time and serves again in the next
 * period; tenants see only their own usage.
 */
import t from 'tap';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { startVeloflux, TEST_API_ADMIN, type RunningVeloflux } from '../helpers/veloflux.js';
import { startUpstream } from '../helpers/upstream.js';
import { apiCall, expectStatus, type ApiAnswer } from '../helpers/api.js';
import { childPids, waitFor } from '../helpers/processes.js';

const ok = expectStatus;

const upstream = await startUpstream();
const wsHttp: Server = createServer();
const echo = new WebSocketServer({ server: wsHttp });
echo.on('connection', (socket) => socket.on('message', (data) => socket.send(data)));
await new Promise<void>((r) => wsHttp.listen(0, '127.0.0.1', r));
const wsUrl = `http://127.0.0.1:${(wsHttp.address() as AddressInfo).port}`;
t.teardown(async () => {
  await upstream.close();
  echo.close();
  wsHttp.close();
});

async function start(billing: Record<string, unknown>): Promise<{ vf: RunningVeloflux; admin: string }> {
  const vf = await startVeloflux(
    {
      pools: [
        { name: 'web', backends: [{ id: 'web-1', url: upstream.url }] },
        { name: 'ws', backends: [{ id: 'ws-1', url: wsUrl }] },
      ],
      billing,
      routes: [
        { path: '/acme/', pool: 'web', tenant: 'acme' },
        { path: '/acme-ws/', pool: 'ws', tenant: 'acme' },
        { path: '/globex/', pool: 'web', tenant: 'globex' },
        { path: '/open/', pool: 'web' },
      ],
    },
    { workers: 2 },
  );
  t.teardown(() => vf.stop());
  const admin = (await apiCall(vf.apiUrl, '/api/auth/login', { body: TEST_API_ADMIN })).body.accessToken as string;
  ok(await apiCall(vf.apiUrl, '/api/tenants', { token: admin, body: { id: 'acme', name: 'Acme', plan: 'pro' } }), 201, 'tenant acme');
  ok(await apiCall(vf.apiUrl, '/api/tenants', { token: admin, body: { id: 'globex', name: 'Globex', plan: 'pro' } }), 201, 'tenant globex');
  return { vf, admin };
}

const send = async (vf: RunningVeloflux, path: string, body?: string): Promise<number> => {
  const res = await fetch(`${vf.url}${path}`, { method: body === undefined ? 'GET' : 'POST', headers: { connection: 'close' }, ...(body !== undefined ? { body } : {}) });
  await res.arrayBuffer();
  return res.status;
};

async function usageOf(vf: RunningVeloflux, token: string, tenant: string): Promise<any> {
  return ok(await apiCall(vf.apiUrl, `/api/billing/usage?tenant=${tenant}`, { token }), 200, `usage of ${tenant}`).body;
}

/** Usage settles within a few seconds (workers report every second, the primary meters every second). */
async function settledUsage(vf: RunningVeloflux, token: string, tenant: string, done: (usage: any) => boolean): Promise<any> {
  let last: any;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    last = await usageOf(vf, token, tenant);
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  return last;
}

const { vf, admin } = await start({ plans: [{ id: 'pro', name: 'Pro', price: 2000, included: { requests: 100 }, overage: { requests: [{ price: 5, per: 10 }] } }] });

t.test('requests, bytes and a WebSocket session are metered exactly; refused and tenant-less traffic is not', async (t) => {
  const body = 'x'.repeat(1000);
  let served = 0;
  for (let i = 0; i < 150; i++) if ((await send(vf, `/acme/r${i}`)) === 200) served++;
  for (let i = 0; i < 50; i++) if ((await send(vf, '/acme/upload', body)) === 200) served++;
  for (let i = 0; i < 30; i++) await send(vf, '/open/x');
  t.equal(served, 200);
  const socket = new WebSocket(`${vf.url.replace('http', 'ws')}/acme-ws/chat`);
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  for (let i = 0; i < 5; i++) {
    socket.send(`message ${i}`);
    await new Promise((resolve) => socket.once('message', resolve));
  }
  socket.close();
  await new Promise((resolve) => socket.once('close', resolve));

  // 200 HTTP requests and the WebSocket upgrade (one request, answered 101 by the backend).
  const usage = await settledUsage(vf, admin, 'acme', (u) => u.usage.requests >= 201 && u.usage.websocketMessages >= 10);
  t.equal(usage.usage.requests, 201, 'every request sent to a backend, once');
  t.ok(usage.usage.bytesIn >= 50 * 1000, `request bodies in (${usage.usage.bytesIn})`);
  t.ok(usage.usage.bytesOut > 200 * 100, `response bodies out (${usage.usage.bytesOut})`);
  t.equal(usage.usage.websocketMessages, 10, '5 each way');
  t.ok(usage.usage.websocketSeconds > 0, 'session time');
  t.same(Object.keys(usage.routes).sort(), ['*/acme-ws/', '*/acme/'], 'by route');
  // 101 requests over the 100 included at 5 cents per 10: 50.5, rounded up once to 51.
  t.match(usage, { plan: { id: 'pro' }, overage: { requests: 101 }, costSoFar: { amount: 2000 + 51, currency: 'USD' } });
  t.equal((await usageOf(vf, admin, 'globex')).usage.requests, 0, 'another tenant: nothing');
});

t.test('a worker killed with SIGKILL and replaced counts nothing twice', async (t) => {
  const before = (await settledUsage(vf, admin, 'globex', () => true)).usage.requests;
  for (let i = 0; i < 40; i++) await send(vf, '/globex/a');
  await settledUsage(vf, admin, 'globex', (u) => u.usage.requests >= before + 40);
  const workers = childPids(vf.process.pid!);
  process.kill(workers[0]!, 'SIGKILL');
  await waitFor(() => childPids(vf.process.pid!).length === 2 && !childPids(vf.process.pid!).includes(workers[0]!), 10_000, 'a replacement worker');
  await waitFor(() => vf.logs().filter((l) => l.msg === 'worker serving').length >= 3, 10_000, 'the replacement serving');
  let served = 0;
  for (let i = 0; i < 40; i++) if ((await send(vf, '/globex/b')) === 200) served++;
  t.equal(served, 40);
  const after = await settledUsage(vf, admin, 'globex', (u) => u.usage.requests >= before + 80);
  await new Promise((r) => setTimeout(r, 2500));
  t.equal((await usageOf(vf, admin, 'globex')).usage.requests, before + 80, `exactly 80 more (${after.usage.requests - before} seen)`);
});

t.test("a tenant's users see their own usage and nobody else's", async (t) => {
  const password = 'metering-viewer-password-1';
  ok(await apiCall(vf.apiUrl, '/api/admin/users', { token: admin, body: { email: 'v@acme.test', password, role: 'viewer', tenant: 'acme' } }), 201, 'acme viewer');
  const viewer = (await apiCall(vf.apiUrl, '/api/auth/login', { body: { email: 'v@acme.test', password } })).body.accessToken as string;
  t.equal((await apiCall(vf.apiUrl, '/api/billing/usage', { token: viewer })).body.tenant, 'acme', 'their own by default');
  const other = await apiCall(vf.apiUrl, '/api/billing/usage?tenant=globex', { token: viewer });
  t.equal(other.status, 404, 'another tenant is not found');
  t.equal((await apiCall(vf.apiUrl, '/api/billing/usage', { token: admin })).status, 400, 'platform users name the tenant');
  t.equal((await apiCall(vf.apiUrl, '/api/billing/usage?tenant=nope', { token: admin })).status, 404);
  t.equal((await apiCall(vf.apiUrl, '/api/billing/usage?tenant=acme')).status, 401);
  const plans = await apiCall(vf.apiUrl, '/api/billing/plans', { token: viewer });
  t.match(plans.body, { period: 'month', plans: [{ id: 'pro', price: 2000, currency: 'USD' }] });
});

t.test('a hard quota: 429 with the reset time once used up, served again in the next period', async (t) => {
  const quota = await start({ period: '12s', plans: [{ id: 'pro', name: 'Pro', limits: { monthlyRequests: 20 } }] });
  let served = 0;
  let refused: Response | undefined;
  const deadline = Date.now() + 15_000;
  // Wait for a fresh period so it cannot end halfway through.
  while (Date.now() % 12_000 > 4000) await new Promise((r) => setTimeout(r, 100));
  while (refused === undefined && Date.now() < deadline) {
    const res = await fetch(`${quota.vf.url}/acme/q`, { headers: { connection: 'close' } });
    if (res.status === 200) served++;
    else if (res.status === 429) refused = res;
    await res.arrayBuffer().catch(() => {});
    await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(refused, 'refused once the quota is used up');
  t.ok(served >= 20 && served <= 60, `served ${served} (quota 20, enforcement follows usage by a second or two)`);
  const body = JSON.parse(await refused!.text().catch(() => '{}')) as { error?: { code: string } };
  t.equal(body.error?.code ?? (await fetch(`${quota.vf.url}/acme/q`).then((r) => r.json())).error.code, 'VF_ERR_QUOTA_EXCEEDED');
  const reset = Date.parse(refused!.headers.get('x-quota-reset') ?? '');
  t.ok(reset > Date.now() && reset - Date.now() <= 12_000, 'resets at the end of the period');
  t.ok(Number(refused!.headers.get('retry-after')) >= 1);
  t.equal(await send(quota.vf, '/globex/q'), 200, 'other tenants are served');
  await new Promise((r) => setTimeout(r, Math.max(0, reset - Date.now()) + 300));
  t.equal(await send(quota.vf, '/acme/q'), 200, 'a new period: served again');
});
