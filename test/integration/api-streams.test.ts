/**
 * The main API's WebSocket streams (/api/ws/*) on a real VeloFlux with two workers and real
 * upstreams: each public stream answers at once, metrics tick every second and count exactly the
 * traffic sent through the proxy (per backend for an authenticated client), a drain shows on the
 * backends stream, private streams need a
 * valid token, a thousand clients cost little memory, a client that stops reading is dropped
 * while the others go on, and pages from foreign origins are refused.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { WebSocket, type ClientOptions } from 'ws';
import { childPids, rssBytes, waitFor } from '../helpers/processes.js';
import { startUpstream } from '../helpers/upstream.js';
import { startVeloflux, TEST_API_ADMIN } from '../helpers/veloflux.js';

interface StreamMessage {
  type: string;
  data?: any;
  ts?: number;
}

/** A stream client that keeps every message with its arrival time, so a test can wait for one that matches. */
class StreamClient {
  readonly ws: WebSocket;
  readonly messages: { at: number; message: StreamMessage }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly openedAt = performance.now();
  #waiters: (() => void)[] = [];

  constructor(url: string, options?: ClientOptions) {
    this.ws = new WebSocket(url, options);
    this.ws.on('error', () => {});
    this.ws.on('message', (data) => {
      this.messages.push({ at: performance.now(), message: JSON.parse(String(data)) as StreamMessage });
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }

  /** The first message at index `from` or later that `match` accepts. */
  async waitFor(match: (m: StreamMessage) => boolean, timeoutMs: number, from = 0): Promise<{ at: number; message: StreamMessage; index: number }> {
    const deadline = performance.now() + timeoutMs;
    for (let i = from; ; ) {
      for (; i < this.messages.length; i++) if (match(this.messages[i]!.message)) return { ...this.messages[i]!, index: i };
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no matching message within ${timeoutMs} ms (${this.messages.length} received)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  send(message: unknown): void {
    this.ws.send(JSON.stringify(message));
  }

  close(): Promise<unknown> {
    this.ws.close();
    return this.closed;
  }
}

const web1 = await startUpstream();
const web2 = await startUpstream();
t.teardown(() => Promise.all([web1.close(), web2.close()]));

const vf = await startVeloflux(
  {
    pools: [{ name: 'web', backends: [{ id: 'web-1', url: web1.url }, { id: 'web-2', url: web2.url }] }],
    routes: [{ host: '*', path: '/', pool: 'web' }],
  },
  { workers: 2 },
);
t.teardown(() => vf.stop());
const wsUrl = (stream: string) => `${vf.apiUrl.replace('http:', 'ws:')}/api/ws/${stream}`;
const login = await fetch(`${vf.apiUrl}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(TEST_API_ADMIN) });
const { accessToken: adminToken } = (await login.json()) as { accessToken: string };

/** A public-stream client authenticated as the platform admin: it reads the whole-cluster view (per-backend data). */
async function adminClient(stream: string): Promise<StreamClient> {
  const client = new StreamClient(wsUrl(stream));
  await client.waitFor(() => true, 1000);
  client.send({ type: 'auth', token: adminToken });
  const ok = await client.waitFor((m) => m.type === 'auth_ok', 1000);
  await client.waitFor(() => true, 1000, ok.index + 1);
  return client;
}

t.test('each public stream sends its first message within 1 s of connecting', async (t) => {
  for (const stream of ['backends', 'metrics', 'status', 'health']) {
    const client = new StreamClient(wsUrl(stream));
    const first = await client.waitFor(() => true, 2000);
    const ms = first.at - client.openedAt;
    t.equal(first.message.type, stream, `${stream}: the first message is a ${stream} message`);
    t.ok(ms < 1000, `${stream}: first message ${ms.toFixed(0)} ms after connecting (handshake included)`);
    t.type(first.message.ts, 'number', `${stream}: with a timestamp`);
    t.ok(first.message.data !== null && typeof first.message.data === 'object', `${stream}: with data`);
    await client.close();
  }
});

t.test('metrics tick every second and count exactly the requests sent through the proxy', async (t) => {
  const client = await adminClient('metrics');
  // A few ticks: the feed is built once a second, so updates arrive about a second apart.
  const first = client.messages.length - 1;
  await client.waitFor(() => true, 5000, first + 4);
  const ticked = client.messages.slice(first);
  const gaps = ticked.slice(1).map((m, i) => m.at - ticked[i]!.at);
  const ticks = gaps.slice(1); // the first gap ends at the next tick after the snapshot, any fraction of a second
  t.comment(`metrics message gaps: ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`);
  // Loose per gap (a busy machine delays one delivery, shortening the next gap), tight on average.
  t.ok(ticks.every((g) => g > 300 && g < 2000), 'each update follows the previous one by about a second');
  const meanTick = ticks.reduce((a, b) => a + b, 0) / ticks.length;
  t.ok(meanTick > 750 && meanTick < 1300, `${ticks.length} updates ${meanTick.toFixed(0)} ms apart on average`);

  const before = client.messages.at(-1)!.message.data;
  const counters = (data: any) => ({
    total: data.totals.requests as number,
    route: (data.routes['*/']?.requests ?? 0) as number,
    pool: (data.pools.web?.requests ?? 0) as number,
    web1: (data.backends['web-1']?.requests ?? 0) as number,
    web2: (data.backends['web-2']?.requests ?? 0) as number,
  });
  const base = counters(before);
  const seen = { web1: web1.requests.length, web2: web2.requests.length };
  const N = 37;
  const statuses: number[] = [];
  for (let i = 0; i < N; i++) {
    const res = await fetch(`${vf.url}/item/${i}`);
    statuses.push(res.status);
    await res.arrayBuffer();
  }
  t.same(statuses, Array(N).fill(200), `${N} requests through the proxy, all 200`);
  const sentAt = performance.now();
  const mark = client.messages.length;
  const grown = await client.waitFor((m) => m.data.totals.requests >= base.total + N, 5000, mark);
  const after = counters(grown.message.data);
  t.comment(`totals.requests ${base.total} -> ${after.total}, ${(grown.at - sentAt).toFixed(0)} ms after the last response`);
  // At worst one worker stats report (1 s) plus one feed tick (1 s) behind, and some slack.
  t.ok(grown.at - sentAt < 3000, 'the stream shows the traffic within ~2 s');
  const upstream = { web1: web1.requests.length - seen.web1, web2: web2.requests.length - seen.web2 };
  t.same(
    { total: after.total - base.total, route: after.route - base.route, pool: after.pool - base.pool, web1: after.web1 - base.web1, web2: after.web2 - base.web2 },
    { total: N, route: N, pool: N, web1: upstream.web1, web2: upstream.web2 },
    `totals, route "*/" and pool "web" grew by exactly ${N}; backends by what each upstream received (${upstream.web1} + ${upstream.web2})`,
  );
  t.equal(upstream.web1 + upstream.web2, N);
  // Exactly: the next update does not go on counting.
  const next = await client.waitFor(() => true, 2000, grown.index + 1);
  t.equal(next.message.data.totals.requests, base.total + N, 'the next update still says +N');
  await client.close();
});

t.test('the backends stream shows a drain; the health stream carries status and workers', async (t) => {
  const backends = await adminClient('backends');
  const health = new StreamClient(wsUrl('health'));
  const snapshot = await backends.waitFor((m) => m.type === 'backends', 1000, backends.messages.length - 1);
  const web2Of = (m: StreamMessage) => (m.data.backends as { id: string; drain: boolean; available: boolean }[]).find((b) => b.id === 'web-2');
  t.match(web2Of(snapshot.message), { drain: false, available: true, pool: 'web', url: web2.url }, 'web-2 serves before');

  const res = await vf.admin('/admin/backends/web-2/drain', { method: 'POST' });
  t.equal(res.status, 200, 'drained through the admin API');
  const appliedAt = performance.now();
  const drained = await backends.waitFor((m) => web2Of(m)?.drain === true, 3000, snapshot.index + 1);
  t.comment(`drain on the stream ${(drained.at - appliedAt).toFixed(0)} ms after the admin API answered`);
  t.ok(drained.at - appliedAt < 2000, 'within 2 s');
  t.match(web2Of(drained.message), { drain: true, available: false }, 'web-2 drained, no longer available');
  t.match((drained.message.data.backends as { id: string }[]).find((b) => b.id === 'web-1'), { drain: false, available: true }, 'web-1 untouched');
  t.match(drained.message.data.counts, { total: 2, available: 1, draining: 1 }, 'and counted');

  const status = await health.waitFor(() => true, 1000);
  t.match(status.message, { type: 'health', data: { status: 'up', workers: { ready: 2, alive: 2, expected: 2 }, state: { backend: 'embedded', available: true } } });

  t.equal((await vf.admin('/admin/backends/web-2/undrain', { method: 'POST' })).status, 200);
  await backends.waitFor((m) => web2Of(m)?.drain === false, 3000, drained.index + 1);
  await Promise.all([backends.close(), health.close()]);
});

t.test('a private stream needs a valid access token', async (t) => {
  const accessToken = adminToken;

  const good = new StreamClient(wsUrl('ai'));
  t.same((await good.waitFor(() => true, 1000)).message, { type: 'auth_required' }, 'auth_required first');
  good.send({ type: 'auth', token: accessToken });
  t.same((await good.waitFor(() => true, 1000, 1)).message, { type: 'auth_ok' }, 'a valid token: auth_ok');
  t.equal(good.ws.readyState, WebSocket.OPEN, 'and the stream stays open');

  const bad = new StreamClient(wsUrl('ai'));
  t.same((await bad.waitFor(() => true, 1000)).message, { type: 'auth_required' });
  bad.send({ type: 'auth', token: `${accessToken.slice(0, -4)}AAAA` });
  const closed = await bad.closed;
  t.equal(closed.code, 4401, `a bad token: closed with 4401 (${closed.reason})`);
  t.same(bad.messages.map((m) => m.message.type), ['auth_required'], 'and nothing streamed to it');
  await good.close();
});

t.test('1000 clients on one instance all get updates for a bounded amount of memory', async (t) => {
  const workers = childPids(vf.process.pid!);
  t.equal(workers.length, 2, 'two workers');
  const rss = () => workers.reduce((sum, pid) => sum + rssBytes(pid), 0);
  const rssBefore = rss();
  // RSS moves with garbage collection: the highest of samples taken along the way is what counts.
  let rssPeak = rssBefore;
  const sample = () => (rssPeak = Math.max(rssPeak, rss()));

  const clients: StreamClient[] = [];
  for (let batch = 0; batch < 10; batch++) {
    const opened = Array.from({ length: 100 }, () => new StreamClient(wsUrl('metrics')));
    await Promise.all(opened.map((c) => once(c.ws, 'open')));
    clients.push(...opened);
    sample();
  }
  const counts = clients.map((c) => c.messages.length);
  // Each got its snapshot on connect; each must also get an update published after all were connected.
  await waitFor(() => clients.every((c, i) => c.messages.length > counts[i]!), 5000, 'an update on every client');
  t.equal(clients.filter((c) => c.ws.readyState === WebSocket.OPEN).length, 1000, '1000 clients open');
  t.ok(clients.every((c) => c.messages.every((m) => m.message.type === 'metrics')), 'all of them receive metrics messages');

  sample();
  const grownMb = (rssPeak - rssBefore) / 2 ** 20;
  t.comment(`workers' RSS ${(rssBefore / 2 ** 20).toFixed(1)} MB before, at most ${(rssPeak / 2 ** 20).toFixed(1)} MB with 1000 clients: +${grownMb.toFixed(1)} MB (${((rssPeak - rssBefore) / 1000 / 1024).toFixed(1)} KB per client)`);
  t.ok(grownMb < 200, `+${grownMb.toFixed(1)} MB < 200 MB`);

  await Promise.all(clients.map((c) => c.close()));
  t.ok(clients.every((c) => c.ws.readyState === WebSocket.CLOSED), 'all closed');
});

t.test('pages from origins not allowed are refused; clients without Origin are accepted', async (t) => {
  const refused = new WebSocket(wsUrl('metrics'), { origin: 'https://evil.example' });
  refused.on('error', () => {});
  const [, response] = (await once(refused, 'unexpected-response')) as [unknown, IncomingMessage];
  let body = '';
  for await (const chunk of response) body += chunk;
  t.equal(response.statusCode, 403, 'a foreign Origin: 403 on the upgrade');
  t.equal(JSON.parse(body).error.code, 'VF_ERR_ORIGIN_NOT_ALLOWED');
  refused.terminate();

  const plain = new StreamClient(wsUrl('metrics'));
  t.equal((await plain.waitFor(() => true, 1000)).message.type, 'metrics', 'no Origin: accepted and streaming');
  const sameOrigin = new StreamClient(wsUrl('metrics'), { origin: vf.apiUrl });
  t.equal((await sameOrigin.waitFor(() => true, 1000)).message.type, 'metrics', 'the API\'s own origin: accepted');
  await Promise.all([plain.close(), sameOrigin.close()]);
});

t.test('a client that stops reading is dropped in bounded time while another keeps receiving', async (t) => {
  // Its own instance with a short keepalive: a client that never reads never answers a ping.
  const PING_MS = 1000;
  const small = await startVeloflux({ pools: [], routes: [], server: { api: { port: 0, host: '127.0.0.1', streamPingInterval: `${PING_MS}ms` } } }, { workers: 1 });
  t.teardown(() => small.stop());

  const reader = new StreamClient(`${small.apiUrl.replace('http:', 'ws:')}/api/ws/metrics`);
  await reader.waitFor(() => true, 1000);

  const stalled = await handshakeAndStall(small.apiPort, '/api/ws/metrics');
  const connectedAt = Date.now();
  const readerMark = reader.messages.length;
  // Two intervals and the ticker's second of slack suffice; give it a little more, not reading.
  const STALL_MS = 2 * PING_MS + 1000 + 1500;
  await new Promise((resolve) => setTimeout(resolve, STALL_MS));
  t.ok(reader.messages.length - readerMark >= 3, `the reading client kept receiving (${reader.messages.length - readerMark} updates while the other stalled)`);

  // Reading now drains what the kernel held for it: if the server dropped the connection, its FIN
  // (or a reset) comes right behind the data.
  const resumedAt = performance.now();
  const ended = await stalled.readToEnd(2000);
  const frames = parseServerFrames(ended.bytes);
  const texts = frames.filter((f) => f.opcode === 1).map((f) => JSON.parse(f.payload.toString()) as StreamMessage);
  const lastTs = texts.at(-1)?.ts ?? connectedAt;
  t.ok(ended.how !== 'timeout', `the server closed the connection (${ended.how}) ${(performance.now() - resumedAt).toFixed(0)} ms after reading resumed`);
  t.ok(frames.some((f) => f.opcode === 9), 'it had been pinged');
  t.ok(texts.length >= 1 && texts.every((m) => m.type === 'metrics'), `it got ${texts.length} metrics messages before`);
  t.ok(lastTs - connectedAt <= 2 * PING_MS + 1000, `and none later than ${lastTs - connectedAt} ms after connecting (bound: ${2 * PING_MS + 1000} ms)`);

  const after = reader.messages.length;
  await reader.waitFor(() => true, 2000, after);
  t.pass('the reading client still receives after the drop');
  await reader.close();
});

interface StalledSocket {
  /** Starts reading; resolves with everything received and how the stream ended. */
  readToEnd(timeoutMs: number): Promise<{ bytes: Buffer; how: 'end' | 'reset' | 'timeout' }>;
}

/** A WebSocket handshake by hand on a raw TCP socket, which then stops reading altogether. */
async function handshakeAndStall(port: number, path: string): Promise<StalledSocket> {
  const socket: Socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let received: Buffer = Buffer.alloc(0);
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      socket.pause();
      const head = received.subarray(0, end).toString();
      received = received.subarray(end + 4);
      if (head.startsWith('HTTP/1.1 101 ')) resolve();
      else reject(new Error(`handshake refused: ${head}`));
    };
    socket.on('data', onData);
  });
  let how: 'end' | 'reset' | undefined;
  socket.on('end', () => (how ??= 'end'));
  socket.on('error', () => (how ??= 'reset'));
  return {
    readToEnd: async (timeoutMs) => {
      const chunks: Buffer[] = [received];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.resume();
      const deadline = Date.now() + timeoutMs;
      while (how === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      socket.destroy();
      return { bytes: Buffer.concat(chunks), how: how ?? 'timeout' };
    },
  };
}

/** Unmasked server frames (RFC 6455 §5.2), as far as the bytes go. */
function parseServerFrames(bytes: Buffer): { opcode: number; payload: Buffer }[] {
  const frames: { opcode: number; payload: Buffer }[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    const opcode = bytes[at]! & 0x0f;
    let length = bytes[at + 1]! & 0x7f;
    let header = 2;
    if (length === 126) {
      length = bytes.readUInt16BE(at + 2);
      header = 4;
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(at + 2));
      header = 10;
    }
    if (at + header + length > bytes.length) break;
    frames.push({ opcode, payload: bytes.subarray(at + header, at + header + length) });
    at += header + length;
  }
  return frames;
}
