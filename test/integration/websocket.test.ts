/**
 * WebSocket proxying through a real VeloFlux to real `ws` servers: the tunnel opens only on a
 * valid 101, messages and close codes pass both ways, other answers are relayed, bad handshakes
 * get 502, and an open WebSocket survives config changes.
 */
import t from 'tap';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
  ],
  routes: [
    { path: '/ws', pool: 'echo' },
    { path: '/strip/', pool: 'echo', stripPrefix: true },
    { path: '/refusing', pool: 'refusing' },
    { path: '/lying', pool: 'lying' },
    { path: '/dead', pool: 'dead' },
  ],
};
const vf = await startVeloflux(config, { workers: 2 });
const wsUrl = vf.url.replace('http', 'ws');
t.teardown(async () => {
  await vf.stop();
  for (const s of [echoHttp, refusing, lying]) s.close();
  echo.close();
});

function open(path: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${wsUrl}${path}`);
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

function nextMessage(socket: WebSocket): Promise<string> {
  return new Promise((resolve) => socket.once('message', (data) => resolve(data.toString())));
}

function closed(socket: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
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
