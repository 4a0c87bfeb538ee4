/**
 * A WebSocket upgrade is a backend attempt like any HTTP request: each feature of the attempt
 * path (sticky sessions, circuit breaker, passive outlier detection, strict response-head
 * parsing, request metrics and the access log, upstream TLS verification, retries of a failed
 * connect) holds for upgrades as it does for a plain GET. One section per feature, each on its
 * own VeloFlux (one worker where per-worker state such as the breaker or round robin must be
 * deterministic), with real `ws` backends or raw TCP ones for malformed answers.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { closedPort, startUpstream, type Upstream, type UpstreamHandler } from '../helpers/upstream.js';
import { rawRequest, type RawResult } from '../helpers/raw-http.js';
import { startVeloflux, type RunningVeloflux } from '../helpers/veloflux.js';
import { scrape } from '../helpers/metrics.js';

// Seven instances started and stopped, plus the deadlines the failing cases run out: more than
// the 120 s .taprc gives a file when the machine is busy.
t.setTimeout(240_000);

// ---------------------------------------------------------------------------------------------
// Shared setup

/** An upstream (test/helpers) that also accepts WebSockets, sending `name` first on each one. */
interface WsUpstream extends Upstream {
  readonly name: string;
  /** The upgrade requests whose WebSocket the backend accepted. */
  readonly upgrades: IncomingMessage[];
}

/** Answers plain HTTP requests with `name`. */
const answersWith =
  (name: string): UpstreamHandler =>
  (req, res) => {
    req.resume();
    req.on('end', () => res.end(name));
  };

async function startWsUpstream(name: string, handler: UpstreamHandler = answersWith(name)): Promise<WsUpstream> {
  const upstream = await startUpstream(handler);
  const upgrades: IncomingMessage[] = [];
  const wss = new WebSocketServer({ server: upstream.server });
  wss.on('connection', (socket, req) => {
    upgrades.push(req);
    socket.send(name);
  });
  // The helper's close destroys every accepted socket, upgraded ones included.
  return Object.assign(upstream, { name, upgrades });
}

interface UpgradeResult {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body of a non-101 answer. */
  body: string;
  /** The open WebSocket, on 101. */
  socket: WebSocket | undefined;
  /** The first message the backend sends (the backend's name, for WsUpstream). */
  firstMessage: Promise<string>;
}

/** A WebSocket handshake through VeloFlux; resolves with the 101 (socket open) or the other answer. */
function tryUpgrade(vf: RunningVeloflux, path: string, headers: Record<string, string> = {}): Promise<UpgradeResult> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${vf.port}${path}`, { headers });
    let upgradeHeaders: IncomingHttpHeaders = {};
    const firstMessage = new Promise<string>((r) => socket.once('message', (data) => r(data.toString())));
    socket.once('upgrade', (res) => (upgradeHeaders = res.headers));
    socket.once('open', () => resolve({ status: 101, headers: upgradeHeaders, body: '', socket, firstMessage }));
    socket.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, socket: undefined, firstMessage });
        req.destroy();
      });
    });
    socket.on('error', reject);
  });
}

async function closeWs(socket: WebSocket | undefined): Promise<void> {
  if (socket === undefined || socket.readyState === WebSocket.CLOSED) return;
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.close(1000);
  const timer = setTimeout(() => socket.terminate(), 2000);
  await closed;
  clearTimeout(timer);
}

/** Opens and closes one upgrade; the status it got. */
async function upgradeOnce(vf: RunningVeloflux, path: string): Promise<number> {
  const result = await tryUpgrade(vf, path);
  await closeWs(result.socket);
  return result.status;
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** A complete WebSocket handshake request, sent on a raw connection. */
function handshake(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\n\r\n`;
}

/** RFC 6455 §4.2.2: the Sec-WebSocket-Accept a server must answer `key` with. */
function acceptFor(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

/** The error code in a VeloFlux error body, or undefined when it is not one. */
function errorCode(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

/** Polls `check` until it holds or `ms` pass (metrics are aggregated once a second); whether it held. */
async function eventually(check: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls the metrics until `series` reaches `expected` (or the deadline); its last value. */
async function metricReaching(vf: RunningVeloflux, series: string, expected: number, ms = 4000): Promise<number | undefined> {
  let value: number | undefined;
  await eventually(async () => (value = (await scrape(vf)).get(series)) === expected, ms);
  return value;
}

// ---------------------------------------------------------------------------------------------
// 1. Sticky sessions

t.test('sticky sessions pin upgrades as they pin requests, and an upgrade is pinned by its 101', async (t) => {
  const backends = await Promise.all(['a', 'b', 'c'].map((name) => startWsUpstream(name)));
  const vf = await startVeloflux(
    {
      pools: [{ name: 'web', sticky: { cookie: 'vf_ws', maxAge: '1h' }, backends: backends.map((b, i) => ({ id: `sticky-backend-${i}`, url: b.url })) }],
      routes: [{ path: '/', pool: 'web' }],
    },
    { workers: 2 },
  );
  t.teardown(async () => {
    await vf.stop();
    await Promise.all(backends.map((b) => b.close()));
  });
  const get = (cookie?: string) => fetch(`${vf.url}/page`, cookie === undefined ? {} : { headers: { cookie } });

  const first = await get();
  const pinnedTo = await first.text();
  const setCookie = first.headers.get('set-cookie') ?? '';
  t.match(setCookie, /^vf_ws=[A-Za-z0-9_-]{27};/, 'an HTTP request gets the sticky cookie');
  const cookie = setCookie.split(';')[0]!;

  const reached: string[] = [];
  for (let i = 0; i < 6; i++) {
    const ws = await tryUpgrade(vf, '/chat', { cookie: `other=1; ${cookie}` });
    t.equal(ws.status, 101);
    reached.push(await ws.firstMessage);
    t.equal(ws.headers['set-cookie'], undefined, 'a pinned upgrade is not sent the cookie again (as a pinned request is not)');
    await closeWs(ws.socket);
  }
  t.same(reached, Array(6).fill(pinnedTo), 'every upgrade with the cookie reaches the backend the HTTP requests were pinned to');

  for (let i = 0; i < 3; i++) {
    const ws = await tryUpgrade(vf, '/chat');
    t.equal(ws.status, 101);
    const backend = await ws.firstMessage;
    await closeWs(ws.socket);
    const pin = String(ws.headers['set-cookie'] ?? '');
    t.match(pin, /^vf_ws=[A-Za-z0-9_-]{27}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=3600$/, 'an unpinned upgrade gets Set-Cookie on its 101');
    const followers = await Promise.all([1, 2, 3].map(async () => (await get(pin.split(';')[0])).text()));
    t.same(followers, [backend, backend, backend], `that cookie pins HTTP requests to the backend of the WebSocket (${backend})`);
  }
});

// ---------------------------------------------------------------------------------------------
// 2. Circuit breaker

t.test('a backend at its connection + pending limit refuses an upgrade with 503 VF_ERR_CIRCUIT_OPEN', async (t) => {
  const releases: (() => void)[] = [];
  const backend = await startWsUpstream('held', (req, res) => {
    req.resume();
    releases.push(() => res.end('done'));
  });
  const vf = await startVeloflux(
    {
      // One worker: the breaker counts per worker.
      pools: [{ name: 'held', retries: 0, maxConnectionsPerBackend: 1, circuitBreaker: { maxPendingPerBackend: 0 }, backends: [{ id: 'held-1', url: backend.url }] }],
      routes: [{ path: '/', pool: 'held' }],
    },
    { workers: 1 },
  );
  t.teardown(async () => {
    await vf.stop();
    await backend.close();
  });

  // Held by an HTTP request.
  const held = fetch(`${vf.url}/slow`);
  t.ok(await eventually(() => backend.requests.length === 1, 3000), 'the HTTP request is held at the backend');
  const refused = await tryUpgrade(vf, '/ws');
  await closeWs(refused.socket);
  t.equal(refused.status, 503, 'an upgrade while a request holds the only slot is refused');
  t.equal(errorCode(refused.body), 'VF_ERR_CIRCUIT_OPEN');
  t.equal(backend.upgrades.length, 0, 'the backend never saw the refused upgrade');
  releases.shift()!();
  t.equal((await held).status, 200);

  // Held by an open WebSocket: the tunnel occupies the backend's one connection.
  const holder = await tryUpgrade(vf, '/ws');
  t.equal(holder.status, 101, 'with the slot free, an upgrade is accepted');
  const second = await tryUpgrade(vf, '/ws');
  await closeWs(second.socket);
  t.equal(second.status, 503, 'a second upgrade while the first is open is refused');
  t.equal(errorCode(second.body), 'VF_ERR_CIRCUIT_OPEN');
  t.equal(backend.upgrades.length, 1, 'only the holder reached the backend');
  await closeWs(holder.socket);
  t.ok(await eventually(async () => (await upgradeOnce(vf, '/ws')) === 101, 3000), 'once the WebSocket closed, the breaker lets upgrades through again');

  const series = 'veloflux_circuit_breaker_rejections_total{pool="held"}';
  t.equal(await metricReaching(vf, series, 2), 2, 'both refused upgrades are counted as breaker rejections');
});

// ---------------------------------------------------------------------------------------------
// 3. Outlier detection

interface FailingBackend {
  url: string;
  /** Upgrades that reached it (undefined: it refuses connections, nothing can reach it). */
  reached(): number | undefined;
  close(): Promise<void>;
}

async function answering502(): Promise<FailingBackend> {
  const upstream = await startUpstream();
  let reached = 0;
  upstream.server.on('upgrade', (_req, socket: Socket) => {
    reached++;
    socket.end('HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: 4\r\nconnection: close\r\n\r\ngone');
  });
  return { url: upstream.url, reached: () => reached, close: () => upstream.close() };
}

async function refusingConnections(): Promise<FailingBackend> {
  const port = await closedPort();
  return { url: `http://127.0.0.1:${port}`, reached: () => undefined, close: async () => {} };
}

t.test('failed upgrades count toward outlier ejection as failed requests do', async (t) => {
  const good = await startWsUpstream('good');
  // One pool per kind of failure, each a good backend and a failing one, on one instance.
  const kinds = [
    { pool: 'answers-502', what: 'answers every upgrade with 502', bad: await answering502() },
    { pool: 'refuses', what: 'refuses connections', bad: await refusingConnections() },
  ];
  const vf = await startVeloflux(
    {
      pools: kinds.map(({ pool, bad }) => ({
        name: pool,
        retries: 0,
        outlierDetection: { consecutiveFailures: 3, baseEjectionTime: '30s', maxEjectionPercent: 50 },
        backends: [
          { id: `${pool}-good`, url: good.url },
          { id: `${pool}-bad`, url: bad.url },
        ],
      })),
      routes: kinds.map(({ pool }) => ({ path: `/${pool}/`, pool })),
    },
    // One worker: round robin alternates exactly, and one worker sees every failure.
    { workers: 1 },
  );
  t.teardown(async () => {
    await vf.stop();
    await good.close();
    await Promise.all(kinds.map(({ bad }) => bad.close()));
  });

  for (const { pool, what, bad } of kinds) {
    t.test(`a backend that ${what}`, async (t) => {
      const path = `/${pool}/ws`;
      const statuses: number[] = [];
      for (let i = 0; i < 12 && statuses.filter((s) => s === 502).length < 3; i++) statuses.push(await upgradeOnce(vf, path));
      t.same([...new Set(statuses)].sort(), [101, 502], `round robin: upgrades to the failing backend get 502 (${statuses.join(' ')})`);
      t.equal(statuses.filter((s) => s === 502).length, 3, 'three failed upgrades');

      const id = `${pool}-bad`;
      const ejected = await eventually(() => vf.logs().some((l) => l.msg === 'backend ejected' && l.backend === id), 2500);
      t.ok(ejected, 'after three failed upgrades in a row the backend is ejected, as after three failed requests');
      const admin = (await (await vf.admin('/admin/metrics')).json()) as { pools: { name: string; backends: { id: string; ejected: boolean }[] }[] };
      t.equal(admin.pools.find((p) => p.name === pool)?.backends.find((b) => b.id === id)?.ejected, true, 'the admin metrics show it ejected');

      const reachedBefore = bad.reached();
      const during: number[] = [];
      for (let i = 0; i < 8; i++) during.push(await upgradeOnce(vf, path));
      t.same(during, Array(8).fill(101), 'while it is ejected, every upgrade goes to the good backend');
      if (reachedBefore !== undefined) t.equal(bad.reached(), reachedBefore, 'the ejected backend receives no upgrade');
    });
  }
});

// ---------------------------------------------------------------------------------------------
// 4. Strict parsing of the backend's answer

/** Bytes that must never reach the client when the answer is refused. */
const MARKER = 'X-Leak-Marker: backend-head-bytes';
const TAIL = 'backend-tail-bytes';

/** The backend's answer to the handshake, by the last path segment. */
const answers: Record<string, (key: string) => string> = {
  'line-without-colon': (key) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n${MARKER}\r\nBad Header Line\r\n\r\n`,
  'obs-fold': (key) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n${MARKER}\r\n  folded: continuation\r\n\r\n`,
  'space-in-name': (key) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n${MARKER}\r\nBad Name: x\r\n\r\n`,
  'control-char-in-value': (key) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n${MARKER}\r\nX-Odd: a\x01b\r\n\r\n`,
  'status-not-a-number': (key) => `HTTP/1.1 10x Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n${MARKER}\r\n\r\n`,
  'wrong-accept': () => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor('not the key')}\r\n${MARKER}\r\n\r\n`,
  'no-upgrade-header': (key) => `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n${MARKER}\r\n\r\n`,
  unauthorized: () => 'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm="ws"\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nlogin first!',
};

/** A raw TCP backend: reads the handshake, writes the answer its path names and a tail, hangs up. */
async function startRawBackend(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createTcpServer((socket) => {
    let head = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      head += d;
      if (!head.includes('\r\n\r\n')) return;
      const path = /^GET (\S+) /.exec(head)?.[1] ?? '';
      const key = /\r\nsec-websocket-key: *([^\r]*)/i.exec(head)?.[1] ?? '';
      const answer = answers[path.slice(path.lastIndexOf('/') + 1)];
      socket.end(answer === undefined ? 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n' : `${answer(key)}${path.endsWith('unauthorized') ? '' : TAIL}`, 'latin1');
    });
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** The head of a raw answer as a lower-cased header map, and the body after it. */
function splitAnswer(res: RawResult): { headers: Map<string, string>; body: string } {
  const end = res.text.indexOf('\r\n\r\n');
  const headers = new Map<string, string>();
  for (const line of res.text.slice(0, end).split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body: res.text.slice(end + 4) };
}

t.test("a malformed or lying 101 gets 502 VF_ERR_UPSTREAM_BAD_RESPONSE and none of the backend's bytes", async (t) => {
  const backend = await startRawBackend();
  const vf = await startVeloflux({ pools: [{ name: 'raw', retries: 0, backends: [{ id: 'raw-1', url: backend.url }] }], routes: [{ path: '/', pool: 'raw' }] }, { workers: 2 });
  t.teardown(async () => {
    await vf.stop();
    await backend.close();
  });

  for (const variant of Object.keys(answers).filter((v) => v !== 'unauthorized')) {
    t.test(variant, async (t) => {
      const res = await rawRequest(vf.port, handshake(`/raw/${variant}`), 3000);
      t.equal(res.status, 502, 'the client gets 502');
      t.equal(res.text.match(/HTTP\/1\.\d /g)?.length, 1, 'exactly one response');
      t.equal(errorCode(splitAnswer(res).body), 'VF_ERR_UPSTREAM_BAD_RESPONSE', 'with the bad-response error body');
      t.notMatch(res.text, /backend-head-bytes|backend-tail-bytes|Switching Protocols|sec-websocket-accept/i, "nothing of the backend's answer reaches the client");
      t.ok(res.closedByServer, 'and the connection is closed');
    });
  }

  t.test('a well-formed non-101 answer is relayed as it is: status, headers, body', async (t) => {
    const res = await rawRequest(vf.port, handshake('/raw/unauthorized'), 3000);
    t.equal(res.status, 401);
    const { headers, body } = splitAnswer(res);
    t.equal(headers.get('www-authenticate'), 'Bearer realm="ws"');
    t.equal(headers.get('content-type'), 'text/plain');
    t.equal(headers.get('content-length'), '12');
    t.equal(body, 'login first!');
    t.ok(res.closedByServer);
  });
});

// ---------------------------------------------------------------------------------------------
// 5. Request metrics and the access log

t.test('upgrades are counted in http_requests_total and written to the access log, failures too', async (t) => {
  const live = await startWsUpstream('live');
  const dead = await closedPort();
  const vf = await startVeloflux(
    {
      server: { accessLog: { mode: 'all' } },
      pools: [
        { name: 'live', backends: [{ id: 'live-1', url: live.url }] },
        { name: 'down', retries: 0, backends: [{ id: 'down-1', url: `http://127.0.0.1:${dead}` }] },
      ],
      routes: [
        { path: '/ws', pool: 'live' },
        { path: '/down', pool: 'down' },
      ],
    },
    { workers: 2 },
  );
  t.teardown(async () => {
    await vf.stop();
    await live.close();
  });

  const N = 5;
  for (let i = 0; i < N; i++) t.equal(await upgradeOnce(vf, '/ws'), 101);
  const failed = await tryUpgrade(vf, '/down');
  t.equal(failed.status, 502, 'an upgrade to a backend that is down fails');
  t.equal(errorCode(failed.body), 'VF_ERR_UPSTREAM_CONNECT');

  const ok = 'http_requests_total{route="*/ws",pool="live",backend="live-1",method="GET",code="101"}';
  t.equal(await metricReaching(vf, ok, N), N, `${N} upgrades counted with code 101 under route, pool and backend`);
  const bad = 'http_requests_total{route="*/down",pool="down",backend="down-1",method="GET",code="502"}';
  t.equal(await metricReaching(vf, bad, 1), 1, 'the failed upgrade counted with its 502');

  const access = () => vf.logs().filter((l) => l.type === 'access');
  await eventually(() => access().length >= N + 1, 4000);
  const upgraded = access().filter((l) => l.status === 101);
  t.equal(upgraded.length, N, 'one access line per upgrade, with status 101');
  for (const line of upgraded) t.match(line, { method: 'GET', route: '*/ws', pool: 'live', backend: 'live-1', client: '127.0.0.1' });
  t.same(
    upgraded.map((l) => l.requestId).sort(),
    live.upgrades.map((req) => req.headers['x-request-id']).sort(),
    'each line carries the X-Request-Id its upgrade was sent to the backend with',
  );
  const failedLines = access().filter((l) => l.status === 502);
  t.equal(failedLines.length, 1, 'the failed upgrade has its line with 502');
  t.match(failedLines[0], { method: 'GET', route: '*/down', pool: 'down', backend: 'down-1' });
  t.equal(access().length, N + 1, 'exactly one line per upgrade');
});

// ---------------------------------------------------------------------------------------------
// 6. Upstream TLS verification

t.test('https:// backends are verified for upgrades as for requests: self-signed fails without tls.ca, passes with it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'veloflux-ws-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cert = join(dir, 'self.pem');
  const key = join(dir, 'self.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });

  const secure = createHttpsServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
    req.resume();
    req.on('end', () => res.end('secure'));
  });
  const wss = new WebSocketServer({ server: secure });
  wss.on('connection', (socket) => socket.send('secure'));
  await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
  const secureUrl = `https://127.0.0.1:${(secure.address() as AddressInfo).port}`;
  const vf = await startVeloflux(
    {
      pools: [
        { name: 'untrusted', retries: 0, backends: [{ id: 'untrusted-1', url: secureUrl }] },
        { name: 'trusted', retries: 0, backends: [{ id: 'trusted-1', url: secureUrl }], tls: { ca: cert } },
      ],
      routes: [
        { path: '/untrusted/', pool: 'untrusted' },
        { path: '/trusted/', pool: 'trusted' },
      ],
    },
    { workers: 2 },
  );
  t.teardown(async () => {
    await vf.stop();
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => secure.close(() => resolve()));
  });

  const http = await fetch(`${vf.url}/untrusted/x`);
  const httpCode = errorCode(await http.text());
  t.same([http.status, httpCode], [502, 'VF_ERR_UPSTREAM_CONNECT'], 'an HTTP request to the self-signed backend fails verification');
  const ws = await tryUpgrade(vf, '/untrusted/ws');
  await closeWs(ws.socket);
  t.same([ws.status, errorCode(ws.body)], [http.status, httpCode], 'an upgrade fails the same way');

  t.equal((await fetch(`${vf.url}/trusted/x`)).status, 200, 'with tls.ca the HTTP request passes');
  const trusted = await tryUpgrade(vf, '/trusted/ws');
  t.equal(trusted.status, 101, 'and so does the upgrade');
  t.equal(await trusted.firstMessage, 'secure', 'over a verified TLS tunnel');
  await closeWs(trusted.socket);
});

// ---------------------------------------------------------------------------------------------
// 7. Retry of a failed connect

t.test('an upgrade whose connect fails is retried on another backend, as an idempotent GET is', async (t) => {
  const good = await startWsUpstream('good');
  const dead = await closedPort();
  const vf = await startVeloflux(
    {
      pools: [
        {
          name: 'web',
          retries: 1,
          backends: [
            { id: 'dead', url: `http://127.0.0.1:${dead}` },
            { id: 'good', url: good.url },
          ],
        },
      ],
      routes: [{ path: '/', pool: 'web' }],
    },
    { workers: 1 },
  );
  t.teardown(async () => {
    await vf.stop();
    await good.close();
  });

  const gets: number[] = [];
  for (let i = 0; i < 4; i++) gets.push((await fetch(`${vf.url}/x`)).status);
  t.same(gets, [200, 200, 200, 200], 'GETs that hit the dead backend are retried on the good one');

  const statuses: number[] = [];
  const reached: string[] = [];
  for (let i = 0; i < 6; i++) {
    const ws = await tryUpgrade(vf, '/ws');
    statuses.push(ws.status);
    if (ws.socket !== undefined) reached.push(await ws.firstMessage);
    await closeWs(ws.socket);
  }
  t.same(statuses, Array(6).fill(101), 'every upgrade ends with a 101, the ones that first tried the dead backend included');
  t.same(reached, Array(6).fill('good'), 'all of them at the good backend');
  t.equal(good.upgrades.length, 6);
});
