/**
 * Security events and live address lists across instances sharing one Redis (issue 17): an event
 * recorded on one instance is listed by the other's API and pushed on its stream; a deny entry
 * set through one instance's admin API refuses on the other's workers, without a reload.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { WebSocket } from 'ws';
import { startRedis } from '../helpers/redis.js';
import { startUpstream } from '../helpers/upstream.js';
import { startVeloflux, TEST_API_ADMIN, type RunningVeloflux } from '../helpers/veloflux.js';

const redis = await startRedis();
t.teardown(() => redis.stop());
const upstream = await startUpstream();
t.teardown(() => upstream.close());
const config = {
  server: { redis: { url: redis.url, keyPrefix: `vf-${randomBytes(3).toString('hex')}:` } },
  pools: [{ name: 'web', backends: [{ id: 'u1', url: upstream.url }] }],
  routes: [{ path: '/', pool: 'web', security: { mode: 'block' } }],
};
const a = await startVeloflux(config, { workers: 1, readyTimeoutMs: 60_000 });
t.teardown(() => a.stop());
const b = await startVeloflux(config, { workers: 1, readyTimeoutMs: 60_000 });
t.teardown(() => b.stop());

function get(vf: RunningVeloflux, path: string): Promise<{ status: number; requestId: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: vf.port, path, agent: false, headers: { 'user-agent': 'Mozilla/5.0 Firefox/125.0', host: 'shop.example.com' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, requestId: String(res.headers['x-request-id'] ?? '') }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const login = await fetch(`${b.apiUrl}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(TEST_API_ADMIN) });
const token = ((await login.json()) as { accessToken: string }).accessToken;

// B's stream, open before the attack on A.
const messages: any[] = [];
const ws = new WebSocket(`${b.apiUrl.replace('http:', 'ws:')}/api/ws/security`);
t.teardown(() => ws.terminate());
ws.on('message', (data) => {
  const message = JSON.parse(String(data));
  messages.push(message);
  if (message.type === 'auth_required') ws.send(JSON.stringify({ type: 'auth', token }));
});
await until('B stream snapshot', 5000, async () => (messages.some((m) => m.type === 'security' && m.data.kind === 'snapshot') ? true : undefined));

const attack = await get(a, "/x?id=1'%20OR%20'1'%3D'1");
const listedOnB = await until('the event listed by B', 15_000, async () => {
  const res = await fetch(`${b.apiUrl}/api/security/events`, { headers: { authorization: `Bearer ${token}` } });
  const events = ((await res.json()) as { events: any[] }).events;
  return events.find((e) => e.requestId === attack.requestId);
});
const pushedOnB = await until('the event pushed on B\'s stream', 15_000, async () =>
  messages.find((m) => m.type === 'security' && m.data.kind === 'events' && m.data.events.some((e: any) => e.requestId === attack.requestId)),
);

const openOnB = await get(b, '/x');
const put = await a.admin('/admin/security/ip-lists', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ deny: ['127.0.0.1/32'] }) });
const refusedOnB = await until('B refuses', 10_000, async () => ((await get(b, '/x')).status === 403 ? true : undefined));

t.test('an event recorded on A is listed and streamed by B', async (t) => {
  t.equal(attack.status, 403);
  t.match(listedOnB, { action: 'blocked', categories: ['sqli'], route: '*/' });
  t.ok(pushedOnB, 'pushed live on B');
});

t.test('a deny entry set through A applies on B', async (t) => {
  t.equal(openOnB.status, 200);
  t.equal(put.status, 200);
  t.ok(refusedOnB);
});
