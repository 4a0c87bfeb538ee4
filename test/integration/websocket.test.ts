/**
 * WebSocket proxying through a real VeloFlux to real `ws` servers: the tunnel opens only on a
 * valid 101, messages and close codes pass both ways, other answers are relayed, bad handshakes
 * get 502, an open WebSocket survives config changes, idle and max-lifetime limits close tunnels
 * with 1001 on both sides, and GET /admin/metrics counts what went through.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { startVeloflux } from '../helpers/veloflux.js';
import { closedPort } from '../helpers/upstream.js';
import { rawRequest } from '../helpers/raw-http.js';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const echoHttp = createServer();
const echo = new WebSocketServer({ server: echoHttp });
const seenHeaders: Record<string, string | string[] | undefined>[] = [];
echo.on('connection', (socket, req) => {
  seenHeaders.push(req.headers);
  socket.on('message', (data, isBinary) => {
    const text = data.toString();
    if (text.startsWith('close:')) socket.close(Number(text.slice(6)), 'server closing');
    else socket.send(isBinary ? data : `echo:${text}`, { binary: isBinary });
  });
});

// Answers upgrades with 403 and a body, like an auth check in front of a WebSocket endpoint.
const refusing = createServer((_req, res) => res.end('plain'));
refusing.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 9\r\n\r\nforbidden'));

// Claims to switch protocols but with a wrong Sec-WebSocket-Accept.
const lying = createServer();
lying.on('upgrade', (_req, socket) => socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: bm90LXRoZS1yaWdodC1vbmU=\r\n\r\n'));

const echoUrl = await listen(echoHttp);
const refusingUrl = await listen(refusing);
const lyingUrl = await listen(lying);
const deadPort = await closedPort();

const config = {
  pools: [
    { name: 'echo', backends: [{ id: 'echo-1', url: echoUrl }] },
    { name: 'refusing', backends: [{ id: 'refusing-1', url: refusingUrl }] },
    { name: 'lying', backends: [{ id: 'lying-1', url: lyingUrl }] },
    { name: 'dead', backends: [{ id: 'dead-1', url: `http://127.0.0.1:${deadPort}` }] },
    { name: 'idle', backends: [{ id: 'idle-1', url: echoUrl }], websocket: { idleTimeout: '300ms' } },
    { name: 'lifetime', backends: [{ id: 'lifetime-1', url: echoUrl }], websocket: { maxLifetime: '500ms' } },
  ],
  routes: [
    { path: '/ws', pool: 'echo' },
    { path: '/strip/', pool: 'echo', stripPrefix: true },
    { path: '/refusing', pool: 'refusing' },
    { path: '/lying', pool: 'lying' },
    { path: '/dead', pool: 'dead' },
    { path: '/idle', pool: 'idle' },
    { path: '/lifetime', pool: 'lifetime' },
  ],
};
const vf = await startVeloflux(config, { workers: 2 });
const wsUrl = vf.url.replace('http', 'ws');
t.teardown(async () => {
  await vf.stop();
  for (const s of [echoHttp, refusing, lying]) s.close();
  echo.close();
});

function open(path: string, base = wsUrl): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${base}${path}`);
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

function nextMessage(socket: WebSocket): Promise<string> {
  return new Promise((resolve) => socket.once('message', (data) => resolve(data.toString())));
}

function nextData(socket: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => socket.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })));
}

function closed(socket: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** The backend's end of the next WebSocket the echo server accepts. */
function nextServerSide(): Promise<WebSocket> {
  return new Promise((resolve) => echo.once('connection', (s) => resolve(s)));
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

t.test('messages flow both ways and the backend sees forwarding headers', async (t) => {
  const socket = await open('/ws/chat?room=1');
  socket.send('hello');
  t.equal(await nextMessage(socket), 'echo:hello');
  const big = Buffer.alloc(4 * 1024 * 1024, 7);
  socket.send(big);
  const back = await new Promise<Buffer>((resolve) => socket.once('message', (d) => resolve(d as Buffer)));
  t.equal(back.length, big.length, 'a 4 MB binary message comes back whole');
  t.ok(back.equals(big));
  const headers = seenHeaders[seenHeaders.length - 1]!;
  t.equal(headers['x-forwarded-for'], '127.0.0.1');
  t.equal(headers.upgrade, 'websocket');
  socket.close(1000);
  await closed(socket);
});

t.test('stripPrefix applies to upgrades too', async (t) => {
  const before = seenHeaders.length;
  const socket = await open('/strip/inner');
  t.equal(seenHeaders.length, before + 1);
  socket.close();
  await closed(socket);
});

t.test('a close from the client reaches the backend with its code, and back', async (t) => {
  const serverSide = new Promise<{ code: number; reason: string }>((resolve) =>
    echo.once('connection', (s) => s.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
  );
  const socket = await open('/ws');
  const result = closed(socket);
  socket.close(4001, 'client done');
  t.same(await serverSide, { code: 4001, reason: 'client done' }, 'the backend gets the client close code');
  t.same(await result, { code: 4001, reason: 'client done' }, 'the close handshake completes with the code echoed');
});

t.test('a close from the backend reaches the client with its code', async (t) => {
  const socket = await open('/ws');
  const result = closed(socket);
  socket.send('close:4002');
  t.same(await result, { code: 4002, reason: 'server closing' });
});

t.test("a backend's non-101 answer is relayed as it is", async (t) => {
  const res = await rawRequest(vf.port, 'GET /refusing HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  t.equal(res.status, 403);
  t.match(res.text, /\r\n\r\nforbidden$/);
  t.ok(res.closedByServer);
});

t.test('a 101 with a wrong Sec-WebSocket-Accept gets 502 and no tunnel', async (t) => {
  const res = await rawRequest(vf.port, 'GET /lying HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  t.equal(res.status, 502);
  t.match(res.text, /VF_ERR_UPSTREAM_BAD_RESPONSE/);
  t.notMatch(res.text, /101 Switching/);
});

t.test('an upgrade without Sec-WebSocket-Key gets 400', async (t) => {
  const res = await rawRequest(vf.port, 'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n');
  t.equal(res.status, 400);
  t.match(res.text, /VF_ERR_BAD_REQUEST/);
  t.ok(res.closedByServer, 'the connection is closed after the answer');
});

t.test('a backend that refuses connections gets 502', async (t) => {
  const res = await rawRequest(vf.port, 'GET /dead HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  t.equal(res.status, 502);
  t.match(res.text, /VF_ERR_UPSTREAM_CONNECT/);
});

t.test('an open WebSocket survives config changes applied through the admin API', async (t) => {
  const socket = await open('/ws');
  let closedEarly = false;
  socket.once('close', () => (closedEarly = true));
  for (let i = 0; i < 5; i++) {
    const current = await vf.admin('/admin/config');
    const dynamic = (await current.json()) as { pools: { name: string; backends: { weight?: number }[] }[] };
    dynamic.pools[0]!.backends[0]!.weight = i + 2;
    const put = await vf.admin('/admin/config', { method: 'PUT', body: JSON.stringify(dynamic), headers: { 'if-match': current.headers.get('etag')! } });
    t.equal(put.status, 200, `change ${i + 1} applied`);
    socket.send(`after-${i}`);
    t.equal(await nextMessage(socket), `echo:after-${i}`);
  }
  t.notOk(closedEarly, 'the WebSocket stayed open throughout');
  socket.close();
  await closed(socket);
});

t.test('text, binary, fragmented and 1 MB messages come back intact', async (t) => {
  const socket = await open('/ws');
  socket.send('plain text');
  t.equal(await nextMessage(socket), 'echo:plain text');

  const binary = randomBytes(1000);
  socket.send(binary);
  const binaryBack = await nextData(socket);
  t.ok(binaryBack.isBinary && binaryBack.data.equals(binary), 'binary comes back as binary, byte for byte');

  // One text message in three frames: the backend must see one message.
  socket.send('frag-', { fin: false });
  socket.send('ment', { fin: false });
  socket.send('ed', { fin: true });
  t.equal(await nextMessage(socket), 'echo:frag-mented', 'a fragmented text message is reassembled by the backend');

  const parts = [randomBytes(3000), randomBytes(1), randomBytes(70_000)];
  parts.forEach((part, i) => socket.send(part, { binary: true, fin: i === parts.length - 1 }));
  const fragmentedBack = await nextData(socket);
  t.ok(fragmentedBack.data.equals(Buffer.concat(parts)), 'a fragmented binary message too');

  const megabyteText = 'x'.repeat(1024 * 1024);
  socket.send(megabyteText);
  t.equal(await nextMessage(socket), `echo:${megabyteText}`, '1 MB of text');

  const megabyte = randomBytes(1024 * 1024);
  socket.send(megabyte);
  const megabyteBack = await nextData(socket);
  t.ok(megabyteBack.isBinary && megabyteBack.data.equals(megabyte), '1 MB of binary');

  socket.close(1000);
  await closed(socket);
});

t.test('close codes 1000, 1001 and 4000-4999 arrive unchanged in both directions', async (t) => {
  for (const code of [1000, 1001, 4000, 4321, 4999]) {
    const serverSide = nextServerSide();
    const fromClient = await open('/ws');
    const backendSaw = new Promise<number>(async (resolve) => (await serverSide).once('close', (c) => resolve(c)));
    const clientSaw = closed(fromClient);
    fromClient.close(code, 'bye');
    t.equal(await backendSaw, code, `client -> backend: ${code}`);
    t.equal((await clientSaw).code, code, `the backend's reply reaches the client: ${code}`);

    const fromBackend = await open('/ws');
    const result = closed(fromBackend);
    fromBackend.send(`close:${code}`);
    t.same(await result, { code, reason: 'server closing' }, `backend -> client: ${code}`);
  }
});

/** A WebSocket handshake on a raw TCP socket; resolves once the 101 head has arrived. */
function rawUpgrade(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(vf.port, '127.0.0.1', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`),
    );
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (head.startsWith('HTTP/1.1 101')) resolve(socket);
      else reject(new Error(`no 101: ${head}`));
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

t.test('a client that vanishes gets its backend connection closed', async (t) => {
  const serverSide = nextServerSide();
  const client = await rawUpgrade('/ws');
  const backend = await serverSide;
  const backendClosed = new Promise<number>((resolve) => backend.once('close', (code) => resolve(code)));
  client.destroy();
  t.equal(await within(backendClosed, 3000, 'backend close'), 1006, 'closed without a close frame, as the client left');
});

t.test('a backend that vanishes gets its client connection closed', async (t) => {
  const serverSide = nextServerSide();
  const socket = await open('/ws');
  const result = closed(socket);
  (await serverSide).terminate();
  t.equal((await within(result, 3000, 'client close')).code, 1006);
});

t.test('the idle timeout closes an idle tunnel with 1001 on both sides; an active one stays open', async (t) => {
  const activeServerSide = nextServerSide();
  const active = await open('/idle');
  await activeServerSide;
  let activeClosed = false;
  active.once('close', () => (activeClosed = true));
  active.on('message', () => {});
  const chatter = setInterval(() => active.send('still here'), 50);
  t.teardown(() => clearInterval(chatter));

  const idleServerSide = nextServerSide();
  const openedAt = Date.now();
  const idle = await open('/idle');
  const backend = await idleServerSide;
  const backendSaw = new Promise<{ code: number; reason: string }>((resolve) => backend.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const clientSaw = await within(closed(idle), 3000, 'idle close');
  const elapsed = Date.now() - openedAt;
  t.same(clientSaw, { code: 1001, reason: 'idle timeout' }, 'the client gets 1001 "going away"');
  t.same(await within(backendSaw, 3000, 'backend close'), { code: 1001, reason: 'idle timeout' }, 'the backend gets it too, correctly masked');
  t.ok(elapsed >= 290, `not before the timeout (${elapsed} ms)`);

  await new Promise((r) => setTimeout(r, 1000));
  t.notOk(activeClosed, 'the tunnel with traffic is still open');
  clearInterval(chatter);
  // Echoes of the chatter may still be on their way: wait for this one's.
  const last = new Promise<string>((resolve) => {
    const onMessage = (data: Buffer) => {
      if (data.toString() !== 'echo:last') return;
      active.off('message', onMessage);
      resolve(data.toString());
    };
    active.on('message', onMessage);
  });
  active.send('last');
  t.equal(await within(last, 3000, 'the last echo'), 'echo:last', 'and still carries messages');
  active.close();
  await closed(active);
});

t.test('max lifetime closes a busy tunnel after its time', async (t) => {
  const serverSide = nextServerSide();
  const openedAt = Date.now();
  const socket = await open('/lifetime');
  const backend = await serverSide;
  const backendSaw = new Promise<number>((resolve) => backend.once('close', (code) => resolve(code)));
  socket.on('message', () => {});
  const chatter = setInterval(() => socket.send('busy'), 50);
  t.teardown(() => clearInterval(chatter));
  const clientSaw = await within(closed(socket), 3000, 'lifetime close');
  clearInterval(chatter);
  const elapsed = Date.now() - openedAt;
  t.same(clientSaw, { code: 1001, reason: 'max lifetime' });
  t.equal(await within(backendSaw, 3000, 'backend close'), 1001);
  t.ok(elapsed >= 490, `not before the limit (${elapsed} ms)`);
});

interface WebSocketMetrics {
  opened: number;
  active: number;
  closed: number;
  durationSeconds: { sum: number; count: number; buckets: { le: number; count: number }[] };
  received: { messages: number; bytes: number };
  sent: { messages: number; bytes: number };
}

t.test('GET /admin/metrics counts connections, messages and bytes over all workers', async (t) => {
  // A fresh instance, so the counters hold only what this test sends.
  const counted = await startVeloflux({ pools: [config.pools[0]], routes: [config.routes[0]] }, { workers: 2 });
  t.teardown(() => counted.stop());
  const base = counted.url.replace('http', 'ws');
  const metrics = async () => ((await (await counted.admin('/admin/metrics')).json()) as { websockets: WebSocketMetrics }).websockets;
  const poll = async (until: (m: WebSocketMetrics) => boolean): Promise<WebSocketMetrics> => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const m = await metrics();
      if (until(m) || Date.now() > deadline) return m;
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  const sockets = await Promise.all([1, 2, 3, 4].map(() => open('/ws', base)));
  for (const socket of sockets) {
    for (let i = 0; i < 3; i++) {
      socket.send('0123456789');
      t.equal(await nextMessage(socket), 'echo:0123456789');
    }
    socket.send('01234', { fin: false });
    socket.send('56789', { fin: true });
    t.equal(await nextMessage(socket), 'echo:0123456789');
  }
  const open4 = await poll((m) => m.active === 4);
  t.equal(open4.opened, 4, 'opened');
  t.equal(open4.active, 4, 'active while open');

  await Promise.all(sockets.map((socket) => {
    const done = closed(socket);
    socket.close(1000);
    return done;
  }));
  const m = await poll((m) => m.closed === 4);
  t.equal(m.opened, 4);
  t.equal(m.active, 0);
  t.equal(m.closed, 4);
  t.equal(m.durationSeconds.count, 4);
  t.ok(m.durationSeconds.sum > 0 && m.durationSeconds.sum < 30, `duration sum ${m.durationSeconds.sum} s`);
  t.equal(m.durationSeconds.buckets.at(-1)?.count, 4, 'every closed tunnel is in the histogram');
  t.equal(m.received.messages, 16, 'client -> backend: 4 x (3 messages + 1 in two fragments); the close is no message');
  t.equal(m.sent.messages, 16, 'backend -> client: the echoes');
  // Masked client frames: 6 header bytes; server frames: 2. Closes: 1000 without reason.
  t.equal(m.received.bytes, 4 * (3 * (6 + 10) + 2 * (6 + 5) + (6 + 2)), 'client -> backend bytes on the wire');
  t.equal(m.sent.bytes, 4 * (4 * (2 + 15) + (2 + 2)), 'backend -> client bytes on the wire');
});
