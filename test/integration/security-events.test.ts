/**
 * Security events up and out (issue 17): attacks through a real VeloFlux (two workers) become
 * events that reach GET /api/security/events and the /api/ws/security stream (a snapshot of
 * recent events, then each new one with per-minute counts), scoped to the tenant of the route;
 * an event names rules, category, score, action, client, route, tenant, request id and the
 * matched variable, never a cookie, an Authorization header or the body beyond a short snippet.
 */
import t from 'tap';
import { request } from 'node:http';
import { WebSocket } from 'ws';
import { SECURITY_RULES } from '../../src/shared/security-catalogue.js';
import { startUpstream } from '../helpers/upstream.js';
import { startVeloflux, TEST_API_ADMIN } from '../helpers/veloflux.js';

const PASSWORD = 'security-events-password-0123';
const COOKIE_SECRET = 'CookieSecretValue77';
const AUTH_SECRET = 'AuthHeaderSecret88';
const BODY_SECRET = 'BodyPasswordSecret99';
const BODY_TAIL = 'TailOfTheBodyMarker42';

const upstream = await startUpstream();
t.teardown(() => upstream.close());
const vf = await startVeloflux(
  {
    pools: [{ name: 'web', backends: [{ id: 'u1', url: upstream.url }] }],
    routes: [
      { path: '/acme/', pool: 'web', tenant: 'acme', security: { mode: 'block', inspectBodyBytes: '4kb' } },
      { path: '/shop/', pool: 'web', security: { mode: 'block' } },
      { path: '/watch/', pool: 'web', security: { mode: 'detect' } },
    ],
  },
  { workers: 2, readyTimeoutMs: 60_000 },
);
t.teardown(() => vf.stop());

async function api(path: string, token?: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${vf.apiUrl}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { connection: 'close', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}

async function post(path: string, body: unknown, token?: string): Promise<any> {
  const answer = await api(path, token, body);
  if (answer.status >= 300) throw new Error(`${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

const adminToken = (await post('/api/auth/login', TEST_API_ADMIN)).accessToken as string;
await post('/api/tenants', { id: 'acme', name: 'Acme' }, adminToken);
await post('/api/admin/users', { email: 'viewer@acme.test', password: PASSWORD, role: 'viewer', tenant: 'acme' }, adminToken);
const acmeToken = (await post('/api/auth/login', { email: 'viewer@acme.test', password: PASSWORD })).accessToken as string;

function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; requestId: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: vf.port, method, path, agent: false, headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0', host: 'shop.example.com', ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, requestId: String(res.headers['x-request-id'] ?? '') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A stream client that keeps every message and can wait for one that matches. */
class Client {
  readonly ws: WebSocket;
  readonly messages: any[] = [];
  #wake: (() => void) | undefined;

  constructor() {
    this.ws = new WebSocket(`${vf.apiUrl.replace('http:', 'ws:')}/api/ws/security`);
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
      if (left <= 0) throw new Error(`no matching message within ${timeoutMs} ms: ${JSON.stringify(this.messages).slice(0, 800)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Sends `auth`; resolves with the first data message after auth_ok (the snapshot). */
  async authenticate(token: string): Promise<any> {
    await this.waitFor((m) => m.type === 'auth_required', 3000);
    this.ws.send(JSON.stringify({ type: 'auth', token }));
    const ok = await this.waitFor((m) => m.type === 'auth_ok', 3000);
    return (await this.waitFor((m) => m.type === 'security', 3000, ok.index + 1)).message;
  }
}

/** Polls GET /api/security/events until `done` holds (events travel: worker ring, 1 s batch, store, replica). */
async function eventsUntil(token: string, query: string, done: (events: any[]) => boolean, timeoutMs = 10_000): Promise<any[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await api(`/api/security/events${query}`, token);
    if (answer.status !== 200) throw new Error(`GET /api/security/events${query}: ${answer.status} ${JSON.stringify(answer.body)}`);
    if (done(answer.body.events)) return answer.body.events;
    if (Date.now() > deadline) throw new Error(`events never matched: ${JSON.stringify(answer.body.events).slice(0, 800)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const admin = new Client();
const acme = new Client();
const before = await admin.authenticate(adminToken);
const acmeBefore = await acme.authenticate(acmeToken);

const sqli = await send('GET', "/shop/products?id=1'%20OR%20'1'%3D'1", { cookie: `session=${COOKIE_SECRET}; theme=dark`, authorization: `Bearer ${AUTH_SECRET}` });
const body = JSON.stringify({ user: 'eve', password: BODY_SECRET, comment: '<script>alert(document.cookie)</script>', tail: `${'x'.repeat(300)}${BODY_TAIL}` });
const xss = await send('POST', '/acme/api/comments', { 'content-type': 'application/json', cookie: `sid=${COOKIE_SECRET}` }, body);
const detected = await send('GET', '/watch/?file=../../../../etc/passwd', {});

// Everything is sent before the first subtest: tap ends the root test when its subtests are done.
t.test('the stream starts with a snapshot, before any event', async (t) => {
  t.match(before, { type: 'security', data: { kind: 'snapshot', events: [] } });
  t.match(acmeBefore, { type: 'security', data: { kind: 'snapshot', events: [] } });
});

t.test('attacks are answered as the route mode says', async (t) => {
  t.equal(sqli.status, 403);
  t.equal(xss.status, 403);
  t.equal(detected.status, 200, 'detect mode forwards');
});

t.test('GET /api/security/events: every field an operator needs, newest first, nothing secret', async (t) => {
  const events = await eventsUntil(adminToken, '', (e) => e.length >= 3);
  t.equal(events.length, 3);
  t.ok(events[0].ts >= events[1].ts && events[1].ts >= events[2].ts, 'newest first');
  const shop = events.find((e: any) => e.route === '*/shop/');
  t.match(shop, { action: 'blocked', tenant: null, client: '127.0.0.1', method: 'GET', path: '/shop/products', categories: ['sqli'], requestId: sqli.requestId });
  t.ok(shop.score >= 5, `score ${shop.score} reached the threshold`);
  t.ok(shop.matches.some((m: any) => m.variable === 'query:id' && m.category === 'sqli' && /^942\d{3}$/.test(String(m.ruleId))), 'the matched variable and a SQLi rule id');
  t.match(shop.id, /^.+-\d+$/, 'an id unique across instances');
  const acmeEvent = events.find((e: any) => e.route === '*/acme/');
  t.match(acmeEvent, { action: 'blocked', tenant: 'acme', categories: ['xss'], requestId: xss.requestId });
  t.ok(acmeEvent.matches.some((m: any) => m.variable === 'body:comment' && m.snippet.includes('<script>')), 'a short snippet of the matched value');
  const watch = events.find((e: any) => e.route === '*/watch/');
  t.match(watch, { action: 'detected', categories: ['lfi'] });

  const text = JSON.stringify(events);
  for (const secret of [COOKIE_SECRET, AUTH_SECRET, BODY_SECRET, BODY_TAIL]) t.notOk(text.includes(secret), `no ${secret} in any event`);
  t.ok(text.length < 8000, `events stay short (${text.length} characters)`);
});

t.test('GET /api/security/events filters and scopes', async (t) => {
  t.same((await eventsUntil(adminToken, '?category=xss', () => true)).map((e: any) => e.route), ['*/acme/'], 'by category');
  t.same((await eventsUntil(adminToken, '?action=detected', () => true)).map((e: any) => e.route), ['*/watch/'], 'by action');
  t.same((await eventsUntil(adminToken, `?route=${encodeURIComponent('*/shop/')}`, () => true)).map((e: any) => e.requestId), [sqli.requestId], 'by route');
  t.equal((await eventsUntil(adminToken, '?limit=1', () => true)).length, 1, 'limit');
  t.same(await eventsUntil(adminToken, `?since=${Date.now() + 60_000}`, () => true), [], 'since');
  t.same((await eventsUntil(acmeToken, '', () => true)).map((e: any) => e.tenant), ['acme'], 'a tenant user sees its tenant\'s events only');
  t.equal((await api('/api/security/events')).status, 401, 'a token is needed');
  const bad = await api('/api/security/events?since=yesterday', adminToken);
  t.equal(bad.status, 400);
  t.match(bad.body.error.message, /since/, 'the bad parameter is named');
});

t.test('the stream: each new event live with per-minute counts, scoped to the tenant', async (t) => {
  const live = await admin.waitFor((m) => m.type === 'security' && m.data.kind === 'events' && m.data.events.some((e: any) => e.requestId === sqli.requestId), 10_000);
  t.ok(live.message.data.events.every((e: any) => e.id !== undefined), 'stored events');
  const counted = await admin.waitFor((m) => m.type === 'security' && m.data.minutes.some((x: any) => x.counts.sqli?.blocked >= 1 && x.counts.xss?.blocked >= 1 && x.counts.lfi?.detected >= 1), 10_000);
  t.ok(counted.message.data.minutes.every((x: any) => typeof x.ts === 'number'), 'minutes carry their start');
  await acme.waitFor((m) => m.type === 'security' && m.data.events.some((e: any) => e.requestId === xss.requestId), 10_000);
  const acmeText = JSON.stringify(acme.messages);
  t.notOk(acmeText.includes(sqli.requestId) || acmeText.includes('/shop/') || acmeText.includes('/watch/'), 'the tenant never sees other routes\' events');
  t.notOk(acme.messages.some((m) => m.type === 'security' && m.data.minutes.some((x: any) => x.counts.sqli !== undefined)), 'nor their counts');

  const late = new Client();
  const snapshot = await late.authenticate(adminToken);
  t.equal(snapshot.data.kind, 'snapshot');
  const stored = (await eventsUntil(adminToken, '', () => true)).map((e: any) => e.id).sort();
  t.equal(stored.length, 3);
  t.same(snapshot.data.events.map((e: any) => e.id).sort(), stored, 'a client that joins later gets the recent events first');
});

t.test('GET /api/security/rules lists the catalogue', async (t) => {
  const answer = await api('/api/security/rules', acmeToken);
  t.equal(answer.status, 200);
  t.equal(answer.body.rules.length, SECURITY_RULES.length);
  t.match(answer.body.rules.find((r: any) => r.id === 942100), { category: 'sqli', severity: 'critical', score: 5 });
  t.ok(answer.body.categories.includes('ip-list'));
});
