import t, { type Test } from 'tap';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { pino } from 'pino';
import { WebSocket, type ClientOptions } from 'ws';
import { OriginPolicy } from '../../../src/workers/api/streams/origin-policy.js';
import { ANONYMOUS, type StreamAudience, type StreamView } from '../../../src/workers/api/streams/stream-channel.js';
import { StreamHub, type StreamHubOptions, type StreamIdentity } from '../../../src/workers/api/streams/stream-hub.js';
import { STREAM_CLOSE_CODES } from '../../../src/workers/api/streams/stream-protocol.js';
import { API_STREAMS } from '../../../src/shared/api-feed.js';

const STREAMS = API_STREAMS;
const IDENTITIES: Record<string, StreamIdentity> = {
  'token-a': { tenant: 'a', subject: 'alice' },
  'token-b': { tenant: 'b', subject: 'bob' },
  'token-admin': { tenant: null, subject: 'root' },
};
const DASHBOARD_ORIGIN = 'https://dash.example.com';

type Message = { type: string; data?: unknown; ts?: number };

/** A ws client that queues every message so a test can take them in order. */
class TestClient {
  readonly ws: WebSocket;
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #queue: Message[] = [];
  readonly #waiters: ((message: Message) => void)[] = [];

  constructor(url: string, options?: ClientOptions) {
    this.ws = new WebSocket(url, options);
    this.ws.on('error', () => {});
    this.ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as Message;
      const waiter = this.#waiters.shift();
      if (waiter === undefined) this.#queue.push(message);
      else waiter(message);
    });
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }

  async opened(): Promise<void> {
    if (this.ws.readyState !== WebSocket.OPEN) await once(this.ws, 'open');
  }

  next(timeoutMs = 2000): Promise<Message> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push((message) => {
        clearTimeout(timer);
        resolve(message);
      });
    });
  }

  get queued(): number {
    return this.#queue.length;
  }
}

interface Harness {
  hub: StreamHub;
  port: number;
  /** The server side of every upgraded connection, to see what Node buffers for each client. */
  upgradedSockets: Socket[];
  client(path: string, options?: ClientOptions): TestClient;
}

async function startHub(t: Test, options: Partial<StreamHubOptions> = {}): Promise<Harness> {
  const hub = new StreamHub({
    streams: STREAMS,
    allowedOrigins: [DASHBOARD_ORIGIN],
    verifyToken: (token) => {
      if (token === 'token-throws') throw new Error('malformed token');
      return IDENTITIES[token];
    },
    log: pino({ level: 'silent' }),
    ...options,
  });
  const upgradedSockets: Socket[] = [];
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    upgradedSockets.push(socket as Socket);
    hub.handleUpgrade(req, socket, head);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const clients: TestClient[] = [];
  t.teardown(() => {
    hub.close();
    for (const client of clients) client.ws.terminate();
    for (const socket of upgradedSockets) socket.destroy();
    server.close();
  });
  return {
    hub,
    port,
    upgradedSockets,
    client(path, clientOptions) {
      const client = new TestClient(`ws://127.0.0.1:${port}${path}`, clientOptions);
      clients.push(client);
      return client;
    },
  };
}

/** Attempts a handshake; resolves 101 when the WebSocket opened, else the HTTP status and JSON body. */
async function handshake(harness: Harness, path: string, options?: ClientOptions): Promise<{ status: number; body?: { error: { code: string } } }> {
  const client = harness.client(path, options);
  return new Promise((resolve) => {
    client.ws.once('open', () => resolve({ status: 101 }));
    client.ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) }));
    });
  });
}

/** Sends a raw HTTP head and returns everything the server answers before closing. */
async function rawExchange(port: number, head: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.end(head);
  let answer = '';
  for await (const chunk of socket) answer += String(chunk);
  return answer;
}

/**
 * Completes a WebSocket handshake on a raw socket and then stops reading it, like a client whose
 * network or event loop stalled: everything sent to it piles up in the kernel and then in Node.
 */
async function stalledWebSocket(port: number, path: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  return new Promise((resolve, reject) => {
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      // Synchronously, so not one more byte is read after the handshake.
      socket.pause();
      socket.off('data', onData);
      if (head.startsWith('HTTP/1.1 101')) resolve(socket);
      else reject(new Error(`handshake failed: ${head.split('\r\n')[0]}`));
    };
    socket.on('data', onData);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The same data for every audience. */
const toEveryone = (data: unknown): StreamView => () => data;
/** Data per audience: `{ anonymous, all, a, b }` (all: users without a tenant); a missing key sends that audience nothing. */
const perAudience =
  (views: { anonymous?: unknown; all?: unknown; [tenant: string]: unknown }): StreamView =>
  (audience: StreamAudience) =>
    audience === ANONYMOUS ? views.anonymous : audience === null ? views.all : views[audience];

t.test('a public stream sends its snapshot within 1 s of connecting, then every publish in order', async (t) => {
  const harness = await startHub(t);
  for (const stream of ['backends', 'metrics', 'status', 'health']) harness.hub.publish(stream, toEveryone({ snapshot: stream }));

  for (const stream of ['backends', 'metrics', 'status', 'health']) {
    const started = performance.now();
    const client = harness.client(`/api/ws/${stream}`);
    const first = await client.next();
    const elapsed = performance.now() - started;
    t.ok(elapsed < 1000, `${stream}: first message after ${elapsed.toFixed(1)} ms (< 1000)`);
    t.equal(first.type, stream);
    t.same(first.data, { snapshot: stream });
    t.type(first.ts, 'number');
    t.ok(Math.abs(Date.now() - first.ts!) < 5000, 'ts is a current epoch timestamp in ms');
  }

  // A feeder publishing every 100 ms (the primary's tick, sped up): each update arrives in order.
  const client = harness.client('/api/ws/metrics?since=now');
  t.same((await client.next()).data, { snapshot: 'metrics' }, 'a query string does not change the stream');
  let seq = 0;
  const feeder = setInterval(() => harness.hub.publish('metrics', toEveryone({ seq: ++seq })), 100);
  t.teardown(() => clearInterval(feeder));
  let previousTs = 0;
  for (let expected = 1; expected <= 5; expected++) {
    const message = await client.next();
    t.same(message, { type: 'metrics', data: { seq: expected }, ts: message.ts }, `update ${expected} in order`);
    t.ok(message.ts! >= previousTs, 'ts never goes back');
    previousTs = message.ts!;
  }
  clearInterval(feeder);

  // An anonymous client receives only what the view returns for ANONYMOUS.
  harness.hub.publish('metrics', perAudience({ a: { secret: true }, all: { secret: true } }));
  harness.hub.publish('metrics', perAudience({ anonymous: { marker: true }, all: { secret: true } }));
  t.same((await client.next()).data, { marker: true }, 'the views for users were not sent to it');

  // Without any publish yet there is no snapshot: the first update is the first message.
  const fresh = await startHub(t);
  const early = fresh.client('/api/ws/health');
  await early.opened();
  fresh.hub.publish('health', toEveryone({ healthy: 3 }));
  t.same((await early.next()).data, { healthy: 3 });
  t.same(harness.hub.stats().clients, { backends: 1, metrics: 2, status: 1, health: 1, ai: 0, security: 0, billing: 0 });
});

t.test('unknown paths get 404 and foreign origins 403, before any WebSocket exists', async (t) => {
  const harness = await startHub(t);
  for (const path of ['/api/ws/nope', '/api/ws/', '/api/ws/metrics/extra']) {
    const answer = await handshake(harness, path);
    t.equal(answer.status, 404, `${path}: 404`);
    t.equal(answer.body?.error.code, 'VF_ERR_NOT_FOUND');
  }
  for (const origin of ['https://evil.example', `http://127.0.0.1:${harness.port + 1}`, `http://localhost:${harness.port}`, 'null']) {
    const answer = await handshake(harness, '/api/ws/metrics', { origin });
    t.equal(answer.status, 403, `Origin ${origin}: 403`);
    t.equal(answer.body?.error.code, 'VF_ERR_ORIGIN_NOT_ALLOWED');
  }
  t.equal(harness.hub.stats().clients.metrics, 0, 'no refused handshake became a client');

  t.equal((await handshake(harness, '/api/ws/metrics')).status, 101, 'no Origin (non-browser client): accepted');
  t.equal((await handshake(harness, '/api/ws/metrics', { origin: `http://127.0.0.1:${harness.port}` })).status, 101, 'same origin: accepted');
  t.equal((await handshake(harness, '/api/ws/metrics', { origin: DASHBOARD_ORIGIN })).status, 101, 'listed origin: accepted');

  const open = await startHub(t, { allowedOrigins: ['*'] });
  t.equal((await handshake(open, '/api/ws/metrics', { origin: 'https://anywhere.example' })).status, 101, '"*" accepts any origin');

  const notWebSocket = await rawExchange(harness.port, `GET /api/ws/metrics HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
  t.match(notWebSocket, /^HTTP\/1\.1 400 /, 'an upgrade without Sec-WebSocket-Key: 400');
  t.match(notWebSocket, /"code":"VF_ERR_BAD_REQUEST"/);
  const post = await rawExchange(harness.port, `POST /api/ws/metrics HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
  t.match(post, /^HTTP\/1\.1 405 [^]*"code":"VF_ERR_METHOD_NOT_ALLOWED"/, 'POST: 405');
});

t.test('same-origin matching compares host and effective port', async (t) => {
  const policy = new OriginPolicy([]);
  t.ok(policy.allows('https://lb.example.com', 'lb.example.com'), 'Host without port means the scheme default');
  t.ok(policy.allows('https://LB.example.com', 'lb.EXAMPLE.com:443'), 'case-insensitive, explicit default port');
  t.ok(policy.allows('http://[::1]:8080', '[::1]:8080'), 'IPv6 literal');
  t.notOk(policy.allows('https://lb.example.com', 'lb.example.com:80'), 'https page, port 80 Host: different origin');
  t.notOk(policy.allows('https://lb.example.com.evil.example', 'lb.example.com'), 'suffix trick');
  t.notOk(policy.allows('https://lb.example.com', undefined), 'no Host, no same-origin');
  t.ok(policy.allows(undefined, undefined), 'no Origin at all: not a browser');
});

t.test('private streams authenticate first and deliver only the view of the token\'s audience', async (t) => {
  const harness = await startHub(t);
  harness.hub.publish('ai', perAudience({ anonymous: { leaked: true }, a: { snapshot: 'a' }, b: { snapshot: 'b' }, all: { snapshot: 'all' } }));

  const clients = { a: harness.client('/api/ws/ai'), b: harness.client('/api/ws/ai'), admin: harness.client('/api/ws/ai') };
  for (const [who, client] of Object.entries(clients)) {
    t.same(await client.next(), { type: 'auth_required' }, `${who}: auth_required comes first`);
  }
  // Published while nobody is authenticated yet: it must not reach the waiting clients, and it is
  // the snapshot each gets after auth_ok. A tenant the view gives nothing gets no snapshot.
  harness.hub.publish('ai', perAudience({ anonymous: { leaked: true }, b: { beforeAuth: 'b' }, all: { beforeAuth: 'all' } }));
  for (const [who, client] of Object.entries(clients)) {
    client.ws.send(JSON.stringify({ type: 'auth', token: `token-${who}` }));
    t.same(await client.next(), { type: 'auth_ok' }, `${who}: auth_ok`);
  }
  t.same((await clients.b.next()).data, { beforeAuth: 'b' }, "b: its tenant's snapshot right after auth_ok");
  t.same((await clients.admin.next()).data, { beforeAuth: 'all' }, 'admin: the whole-cluster snapshot');

  harness.hub.publish('ai', perAudience({ anonymous: { leaked: true }, a: { n: 'a1' }, b: { n: 'b1' }, all: { n: 'all1' } }));
  harness.hub.publish('ai', perAudience({ a: { n: 'a2' } }));
  harness.hub.publish('ai', perAudience({ a: { n: 'a3' }, b: { n: 'b3' }, all: { n: 'all3' } }));
  for (const [who, expected] of [['a', ['a1', 'a2', 'a3']], ['b', ['b1', 'b3']], ['admin', ['all1', 'all3']]] as const) {
    const received = [];
    for (const _ of expected) received.push((await clients[who].next()).data);
    t.same(received, expected.map((n) => ({ n })), `${who} receives exactly its audience's data, in order`);
  }
  await sleep(50);
  t.equal(clients.a.queued + clients.b.queued + clients.admin.queued, 0, 'nothing of another audience arrived');
  t.same(harness.hub.stats().clients.ai, 3);
});

t.test('on a public stream `auth` upgrades an anonymous client to its own audience\'s view', async (t) => {
  const harness = await startHub(t);
  let seq = 0;
  const publish = () => {
    seq += 1;
    harness.hub.publish('backends', perAudience({ anonymous: { anonymous: seq }, a: { a: seq }, b: { b: seq }, all: { all: seq } }));
  };
  publish();
  const clients = { a: harness.client('/api/ws/backends'), admin: harness.client('/api/ws/backends'), stranger: harness.client('/api/ws/backends') };
  for (const [who, client] of Object.entries(clients)) t.same((await client.next()).data, { anonymous: 1 }, `${who}: the anonymous view at once, no auth_required`);

  clients.a.ws.send(JSON.stringify({ type: 'auth', token: 'token-a' }));
  clients.admin.ws.send(JSON.stringify({ type: 'auth', token: 'token-admin' }));
  t.same(await clients.a.next(), { type: 'auth_ok' }, 'a: auth_ok');
  t.same((await clients.a.next()).data, { a: 1 }, "a: its tenant's snapshot right after");
  t.same(await clients.admin.next(), { type: 'auth_ok' }, 'admin: auth_ok');
  t.same((await clients.admin.next()).data, { all: 1 }, 'admin: the whole-cluster snapshot');

  publish();
  t.same((await clients.a.next()).data, { a: 2 }, "a: then only its tenant's updates");
  t.same((await clients.admin.next()).data, { all: 2 }, 'admin: the whole cluster');
  t.same((await clients.stranger.next()).data, { anonymous: 2 }, 'the anonymous client: still the anonymous view');
  await sleep(50);
  t.equal(clients.a.queued + clients.admin.queued + clients.stranger.queued, 0, 'nothing else arrived');

  // A refused token on a public stream closes it as on a private one.
  clients.stranger.ws.send(JSON.stringify({ type: 'auth', token: 'token-nobody' }));
  t.equal((await clients.stranger.closed).code, STREAM_CLOSE_CODES.authFailed, 'a bad token: 4401');
  // A stream whose view gives anonymous readers nothing sends them nothing.
  harness.hub.publish('status', perAudience({ all: { secret: true } }));
  const anonymous = harness.client('/api/ws/status');
  await anonymous.opened();
  await sleep(100);
  t.equal(anonymous.queued, 0, 'no anonymous view, no message');
});

t.test('a bad token, a wrong first message or no auth in time closes with 4401', async (t) => {
  const harness = await startHub(t, { authTimeoutMs: 300 });
  const firstMessages: Record<string, string> = {
    'unknown token': JSON.stringify({ type: 'auth', token: 'token-nobody' }),
    'verifier throws': JSON.stringify({ type: 'auth', token: 'token-throws' }),
    'not an auth message': JSON.stringify({ type: 'subscribe', token: 'token-a' }),
    'not JSON': 'token-a',
  };
  for (const [label, first] of Object.entries(firstMessages)) {
    const client = harness.client('/api/ws/security');
    t.same(await client.next(), { type: 'auth_required' });
    client.ws.send(first);
    const { code } = await client.closed;
    t.equal(code, STREAM_CLOSE_CODES.authFailed, `${label}: closed with 4401`);
  }

  harness.hub.publish('billing', toEveryone({ invoice: 1 }));
  const silent = harness.client('/api/ws/billing');
  t.same(await silent.next(), { type: 'auth_required' });
  const started = performance.now();
  const { code } = await silent.closed;
  const elapsed = performance.now() - started;
  t.equal(code, STREAM_CLOSE_CODES.authFailed, 'no auth: closed with 4401');
  t.ok(elapsed >= 250 && elapsed < 1500, `closed ${elapsed.toFixed(0)} ms after auth_required (timeout 300 ms, checked on the shared tick)`);
  t.equal(silent.queued, 0, 'the unauthenticated client never saw data');
  t.same(harness.hub.stats().rejectedAuth, 5);
  t.same(harness.hub.stats().awaitingAuth, 0);
});

t.test('a stalled client is dropped at the buffer limit while a healthy one keeps receiving', async (t) => {
  const maxBufferedBytes = 256 * 1024;
  const harness = await startHub(t, { maxBufferedBytes });
  const stalled = await stalledWebSocket(harness.port, '/api/ws/metrics');
  t.teardown(() => stalled.destroy());
  const healthy = harness.client('/api/ws/metrics');
  await healthy.opened();
  const serverSide = harness.upgradedSockets.find((socket) => socket.remotePort === stalled.localPort)!;
  t.ok(serverSide, 'found the server side of the stalled connection');

  const payload = 'x'.repeat(64 * 1024);
  let published = 0;
  let maxNodeBuffered = 0;
  let outOfOrder = 0;
  // The kernel's socket buffers on loopback absorb several MB first; stop after 128 MB at most.
  while (harness.hub.stats().droppedSlowConsumers === 0 && published < 2000) {
    harness.hub.publish('metrics', toEveryone({ seq: published, payload }));
    published += 1;
    maxNodeBuffered = Math.max(maxNodeBuffered, serverSide.writableLength);
    const received = await healthy.next();
    if ((received.data as { seq: number }).seq !== published - 1) outOfOrder += 1;
  }
  t.equal(outOfOrder, 0, `the healthy client received all ${published} updates in order`);
  const messageBytes = JSON.stringify({ type: 'metrics', data: { seq: published, payload }, ts: Date.now() }).length;
  t.comment(`stalled client dropped after ${published} publishes (${((published * messageBytes) / 2 ** 20).toFixed(1)} MB sent); Node buffered at most ${maxNodeBuffered} bytes for it (limit ${maxBufferedBytes})`);
  t.equal(harness.hub.stats().droppedSlowConsumers, 1, 'the stalled client was dropped as a slow consumer');
  t.ok(published < 2000, 'dropped before the publishing loop gave up');
  t.ok(maxNodeBuffered <= maxBufferedBytes + messageBytes + 64, `buffered ${maxNodeBuffered} bytes <= limit + one message (${maxBufferedBytes + messageBytes})`);
  t.ok(serverSide.destroyed, 'its socket was terminated');

  harness.hub.publish('metrics', toEveryone({ after: true }));
  t.same((await healthy.next()).data, { after: true }, 'the healthy client keeps receiving');
  t.same(harness.hub.stats().clients.metrics, 1);
});

t.test('1000 clients on one stream all receive each publish with bounded memory', async (t) => {
  const harness = await startHub(t);
  harness.hub.publish('backends', toEveryone({ snapshot: true }));
  const rssBefore = process.memoryUsage().rss;
  const clients: TestClient[] = [];
  // In batches, so the 511-connection listen backlog never overflows into SYN retries.
  for (let batch = 0; batch < 10; batch++) {
    const opened: Promise<Message>[] = [];
    for (let i = 0; i < 100; i++) {
      const client = harness.client('/api/ws/backends');
      clients.push(client);
      opened.push(client.next(10_000));
    }
    const snapshots = await Promise.all(opened);
    if (!snapshots.every((message) => (message.data as { snapshot?: boolean }).snapshot === true)) t.fail(`batch ${batch}: a client missed its snapshot`);
  }
  t.equal(harness.hub.stats().clients.backends, 1000, 'the hub counts 1000 clients');

  const started = performance.now();
  harness.hub.publish('backends', toEveryone({ update: 1 }));
  const updates = await Promise.all(clients.map((client) => client.next(10_000)));
  const fanOutMs = performance.now() - started;
  t.ok(updates.every((message) => (message.data as { update?: number }).update === 1), 'all 1000 clients received the publish');
  const growthMb = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  t.comment(`1000 clients (both ends in this process): RSS grew ${growthMb.toFixed(1)} MB; publish reached all in ${fanOutMs.toFixed(0)} ms`);
  t.ok(growthMb < 150, `RSS growth ${growthMb.toFixed(1)} MB < 150 MB`);

  harness.hub.close();
  const codes = await Promise.all(clients.map(async (client) => (await client.closed).code));
  t.ok(codes.every((code) => code === STREAM_CLOSE_CODES.goingAway), 'close() closed all 1000 with 1001');
});

t.test('a client that stops answering pings is dropped; one that answers stays', async (t) => {
  const harness = await startHub(t, { pingIntervalMs: 200 });
  const deaf = harness.client('/api/ws/status', { autoPong: false });
  const alive = harness.client('/api/ws/status');
  await Promise.all([deaf.opened(), alive.opened()]);
  const started = performance.now();
  const { code } = await deaf.closed;
  const elapsed = performance.now() - started;
  t.equal(code, 1006, 'terminated without a close frame');
  t.ok(elapsed < 1500, `dropped ${elapsed.toFixed(0)} ms after connecting (ping every 200 ms)`);
  await sleep(800);
  t.equal(alive.ws.readyState, WebSocket.OPEN, 'the client answering pings survived 5 more ping rounds');
  t.same(harness.hub.stats().droppedDead, 1);
  t.same(harness.hub.stats().clients.status, 1);
});

t.test('close() closes every client with 1001, whatever its stream or auth state', async (t) => {
  const harness = await startHub(t);
  const publicClient = harness.client('/api/ws/health');
  const authenticated = harness.client('/api/ws/billing');
  const waiting = harness.client('/api/ws/ai');
  await Promise.all([publicClient.opened(), authenticated.next(), waiting.next()]);
  authenticated.ws.send(JSON.stringify({ type: 'auth', token: 'token-a' }));
  t.same(await authenticated.next(), { type: 'auth_ok' });

  harness.hub.close();
  for (const [label, client] of Object.entries({ publicClient, authenticated, waiting })) {
    t.same(await client.closed, { code: STREAM_CLOSE_CODES.goingAway, reason: 'server shutting down' }, `${label}: 1001`);
  }
  t.same(harness.hub.stats().clients, { backends: 0, metrics: 0, status: 0, health: 0, ai: 0, security: 0, billing: 0 });
});
