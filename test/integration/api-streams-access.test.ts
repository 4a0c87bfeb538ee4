/**
 * Issue 14, item 2: what each caller reads on the public streams of a real VeloFlux. Anonymous
 * readers get no more than anonymous REST serves (no backend id or URL, no pool or route name, no
 * alert); a tenant's user who sends `auth` gets its tenant's backends only, a platform admin all of
 * them; and every public stream still sends a first message at once without a token.
 */
import t from 'tap';
import { WebSocket } from 'ws';
import { startUpstream } from '../helpers/upstream.js';
import { startVeloflux, TEST_API_ADMIN } from '../helpers/veloflux.js';

const WEBHOOK_TOKEN = 'alert-webhook-token-for-tests-0123';
const PASSWORD = 'stream-access-password-0123';

const [acme, globex, shared] = await Promise.all([startUpstream(), startUpstream(), startUpstream()]);
t.teardown(() => Promise.all([acme.close(), globex.close(), shared.close()]));
const vf = await startVeloflux(
  {
    pools: [
      { name: 'acme-web', backends: [{ id: 'acme-1', url: acme.url }] },
      { name: 'globex-web', backends: [{ id: 'globex-1', url: globex.url }] },
      { name: 'shared', backends: [{ id: 'shared-1', url: shared.url }] },
    ],
    routes: [
      { path: '/acme/', pool: 'acme-web', tenant: 'acme' },
      { path: '/globex/', pool: 'globex-web', tenant: 'globex' },
      { path: '/', pool: 'shared' },
    ],
  },
  { workers: 2, env: { VELOFLUX_ALERT_WEBHOOK_TOKEN: WEBHOOK_TOKEN } },
);
t.teardown(() => vf.stop());
const wsUrl = (stream: string) => `${vf.apiUrl.replace('http:', 'ws:')}/api/ws/${stream}`;
/** What no anonymous message may contain: backend ids, upstream URLs, pool names, the alert. */
const SECRETS = ['acme-1', 'globex-1', 'shared-1', acme.url, globex.url, shared.url, 'acme-web', 'globex-web', 'StreamAccessTestAlert', '10.9.8.7'];

async function post(path: string, body: unknown, token?: string): Promise<any> {
  const res = await fetch(`${vf.apiUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });
  const answer = (await res.json()) as any;
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${JSON.stringify(answer)}`);
  return answer;
}

const adminToken = (await post('/api/auth/login', TEST_API_ADMIN)).accessToken as string;
await post('/api/tenants', { id: 'acme', name: 'Acme' }, adminToken);
await post('/api/admin/users', { email: 'viewer@acme.test', password: PASSWORD, role: 'viewer', tenant: 'acme' }, adminToken);
const acmeToken = (await post('/api/auth/login', { email: 'viewer@acme.test', password: PASSWORD })).accessToken as string;

/** A stream client that keeps every message and can wait for one that matches. */
class Client {
  readonly ws: WebSocket;
  readonly messages: any[] = [];
  readonly openedAt = performance.now();
  #wake: (() => void) | undefined;

  constructor(stream: string) {
    this.ws = new WebSocket(wsUrl(stream));
    this.ws.on('error', () => {});
    this.ws.on('message', (data) => {
      this.messages.push(JSON.parse(String(data)));
      this.#wake?.();
    });
    t.teardown(() => this.ws.terminate());
  }

  async waitFor(match: (m: any) => boolean, timeoutMs: number, from = 0): Promise<{ message: any; index: number }> {
    const deadline = performance.now() + timeoutMs;
    for (let i = from; ; ) {
      for (; i < this.messages.length; i++) if (match(this.messages[i])) return { message: this.messages[i], index: i };
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no matching message within ${timeoutMs} ms: ${JSON.stringify(this.messages).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Sends `auth`; resolves with the first data message after auth_ok (the snapshot of the user's view). */
  async authenticate(token: string): Promise<any> {
    this.ws.send(JSON.stringify({ type: 'auth', token }));
    const ok = await this.waitFor((m) => m.type === 'auth_ok', 2000);
    return (await this.waitFor(() => true, 2000, ok.index + 1)).message;
  }
}

t.test('without a token every public stream sends a first message at once, and none names a backend, pool or URL', async (t) => {
  for (const stream of ['backends', 'metrics', 'status', 'health']) {
    const client = new Client(stream);
    const { message } = await client.waitFor(() => true, 2000);
    const ms = performance.now() - client.openedAt;
    t.equal(message.type, stream, `${stream}: a ${stream} message first`);
    t.ok(ms < 1000, `${stream}: ${ms.toFixed(0)} ms after connecting`);
    const text = JSON.stringify(message);
    t.same(SECRETS.filter((s) => text.includes(s)), [], `${stream}: nothing that anonymous REST keeps behind a token`);
    client.ws.close();
  }
  // Traffic through each pool: the anonymous metrics count it in the totals, under no backend, pool or route name.
  const metrics = new Client('metrics');
  for (const path of ['/acme/x', '/globex/x', '/x']) await (await fetch(`${vf.url}${path}`)).arrayBuffer();
  const counted = await metrics.waitFor((m) => m.data.totals.requests >= 3, 5000);
  t.same(SECRETS.filter((s) => JSON.stringify(counted.message).includes(s)), [], 'metrics after traffic: still nothing of the sort');
  t.match(counted.message.data, { routes: {}, pools: {}, backends: {} }, 'totals only');

  const backends = new Client('backends');
  const { message } = await backends.waitFor(() => true, 2000);
  t.same(message.data, { counts: { total: 3, available: 3, unhealthy: 0, ejected: 0, draining: 0 } }, 'backends: counts only');
  t.equal((await fetch(`${vf.apiUrl}/api/backends`)).status, 401, 'as GET /api/backends without a token is refused');
});

t.test('an alert posted through the webhook reaches the platform admin on the health stream, not anonymous readers', async (t) => {
  const anonymous = new Client('health');
  const admin = new Client('health');
  await anonymous.waitFor(() => true, 2000);
  await admin.waitFor(() => true, 2000);

  const stored = await post('/api/alerts/webhook', { version: '4', status: 'firing', alerts: [{ status: 'firing', labels: { alertname: 'StreamAccessTestAlert', instance: '10.9.8.7:9100' } }] }, WEBHOOK_TOKEN);
  const recordedAt = Date.now();
  t.equal(stored.stored, 1, 'the webhook stored the alert');
  // A feed the worker publishes after the webhook answered was built after the alert was recorded
  // (feeds and the answer come over the same ordered IPC channel): the alert is in it.
  await anonymous.waitFor((m) => m.ts > recordedAt, 7000);
  const text = JSON.stringify(anonymous.messages);
  t.notOk(text.includes('StreamAccessTestAlert') || text.includes('10.9.8.7'), `no alert label in the ${anonymous.messages.length} anonymous messages`);
  t.ok(anonymous.messages.every((m) => m.data.alerts === undefined && m.data.status === 'up'), 'anonymous readers get the instance health only');
  t.equal((await fetch(`${vf.apiUrl}/api/alerts`)).status, 401, 'as GET /api/alerts without a token is refused');

  await admin.authenticate(adminToken);
  const pushed = await admin.waitFor((m) => m.data?.alerts?.some((a: any) => a.labels.alertname === 'StreamAccessTestAlert'), 5000);
  t.match(pushed.message.data, { status: 'up', alerts: [{ labels: { alertname: 'StreamAccessTestAlert', instance: '10.9.8.7:9100' } }] }, 'the admin, once authenticated, sees the alert with its labels');
});

t.test('auth on a public stream: a tenant user sees its tenant\'s backends only, the platform admin all', async (t) => {
  const ids = (message: any) => (message.data.backends as { id: string }[]).map((b) => b.id).sort();

  const tenant = new Client('backends');
  await tenant.waitFor(() => true, 2000);
  const tenantView = await tenant.authenticate(acmeToken);
  t.same(ids(tenantView), ['acme-1'], 'acme viewer: acme-1 only');
  t.match(tenantView.data, { counts: { total: 1 }, backends: [{ id: 'acme-1', pool: 'acme-web', url: acme.url }] });

  const admin = new Client('backends');
  await admin.waitFor(() => true, 2000);
  t.same(ids(await admin.authenticate(adminToken)), ['acme-1', 'globex-1', 'shared-1'], 'platform admin: every backend');

  // The next publish (the 5 s resend at the latest) keeps each in its own view.
  const mark = tenant.messages.length;
  const next = await tenant.waitFor(() => true, 7000, mark);
  t.same(ids(next.message), ['acme-1'], 'and the updates stay scoped');

  const metrics = new Client('metrics');
  await metrics.waitFor(() => true, 2000);
  const scoped = await metrics.authenticate(acmeToken);
  t.same(Object.keys(scoped.data.backends), ['acme-1'], 'metrics: the counters of its own backend only');
  t.notOk(JSON.stringify(scoped.data).includes('globex') || JSON.stringify(scoped.data).includes('shared-1'), 'metrics: nothing of globex or the shared pool');
  const status = new Client('status');
  await status.waitFor(() => true, 2000);
  t.same((await status.authenticate(acmeToken)).data.pools.map((p: { name: string }) => p.name), ['acme-web'], 'status: its pool only');
});

t.test('a bad token on a public stream closes it with 4401', async (t) => {
  const client = new Client('backends');
  await client.waitFor(() => true, 2000);
  const closed = new Promise<number>((resolve) => client.ws.once('close', (code) => resolve(code)));
  client.ws.send(JSON.stringify({ type: 'auth', token: `${adminToken.slice(0, -4)}AAAA` }));
  t.equal(await Promise.race([closed, new Promise((resolve) => setTimeout(() => resolve('still open'), 3000))]), 4401);
});

t.test('REST reads the feed as the streams do: anonymous aggregates, a tenant its own objects, the platform all', async (t) => {
  const get = async (path: string, token?: string) => (await (await fetch(`${vf.apiUrl}${path}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })).json()) as any;
  for (const path of ['/api/metrics', '/api/status']) {
    const text = JSON.stringify(await get(path));
    t.same(SECRETS.filter((s) => text.includes(s)), [], `anonymous ${path}: no backend, pool or route name`);
  }
  const acmeMetrics = await get('/api/metrics', acmeToken);
  t.equal(acmeMetrics.totals, null, 'a tenant user: no instance totals');
  t.same(Object.keys(acmeMetrics.pools), Object.keys(acmeMetrics.pools).filter((p) => p === 'acme-web'), 'a tenant user: its own pools only');
  t.notOk(JSON.stringify(acmeMetrics).includes('globex'), 'nothing of another tenant');
  t.same(((await get('/api/status', acmeToken)).pools as { name: string }[]).map((p) => p.name), ['acme-web']);
  const all = ((await get('/api/status', adminToken)).pools as { name: string }[]).map((p) => p.name).sort();
  t.same(all, ['acme-web', 'globex-web', 'shared'], 'the platform admin: every pool');
});
