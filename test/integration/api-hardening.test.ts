/**
 * Issue 14, item 11 on a real VeloFlux: deeply nested JSON is a 400 on both JSON APIs (it was a
 * 500, a stack overflow, on /admin/validate), a request head that trickles in is cut at
 * `server.timeouts.clientHeader` on the API and admin ports as on the data plane (it was held for
 * about 70 s), and with `server.api.allowedHosts` set the API answers only the listed Host names,
 * REST and stream upgrades alike (DNS rebinding).
 */
import t from 'tap';
import { once } from 'node:events';
import { request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { WebSocket } from 'ws';
import { startVeloflux } from '../helpers/veloflux.js';

const CLIENT_HEADER_MS = 1000;
const vf = await startVeloflux(
  { pools: [], routes: [], server: { timeouts: { clientHeader: `${CLIENT_HEADER_MS}ms` }, api: { port: 0, host: '127.0.0.1', allowedHosts: ['127.0.0.1', 'api.test'] } } },
  { workers: 1 },
);
t.teardown(() => vf.stop());

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

t.test('deeply nested JSON: 400 VF_ERR_INVALID_JSON on the admin and the main API', async (t) => {
  const deepConfig = `{"pools":[{"name":"web","backends":${nested(20_000)}}],"routes":[]}`;
  const admin = await vf.admin('/admin/validate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: deepConfig });
  t.equal(admin.status, 400, 'POST /admin/validate: 400, not a 500');
  t.match(await admin.json(), { error: { code: 'VF_ERR_INVALID_JSON', message: /deeper than 64 levels/ } });

  const api = await fetch(`${vf.apiUrl}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"email":${nested(20_000)},"password":"x"}` });
  t.equal(api.status, 400, 'POST /api/auth/login: 400');
  t.match(await api.json(), { error: { code: 'VF_ERR_INVALID_JSON', message: /deeper than 64 levels/ } });

  const ordinary = await vf.admin('/admin/validate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pools: [], routes: [] }) });
  t.equal(ordinary.status, 200, 'an ordinary config still validates');
});

/** Sends a request head one byte every 300 ms; resolves with what the server answered and when it closed. */
async function trickle(port: number): Promise<{ ms: number; answer: string }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const head = `GET /health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Slow: ${'a'.repeat(100)}\r\n\r\n`;
  const started = performance.now();
  let answer = '';
  socket.on('data', (chunk) => (answer += String(chunk)));
  socket.on('error', () => {});
  let sent = 0;
  const timer = setInterval(() => {
    if (!socket.destroyed && socket.writable && sent < head.length) socket.write(head[sent++]!);
  }, 300);
  // Well past the bound below, far below node's 60 s default: a head that is not cut fails here.
  const closed = await Promise.race([once(socket, 'close').then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 6000))]);
  clearInterval(timer);
  socket.destroy();
  if (!closed) return { ms: Number.POSITIVE_INFINITY, answer };
  return { ms: performance.now() - started, answer };
}

t.test('a request head sent one byte every 300 ms is cut at clientHeader on the API and admin ports', async (t) => {
  for (const [name, port] of [['API', vf.apiPort], ['admin', vf.adminPort]] as const) {
    const { ms, answer } = await trickle(port);
    t.comment(`${name}: closed ${ms.toFixed(0)} ms after the first byte`);
    // clientHeader, then at most one check interval (250 ms for 1 s), plus slack for a busy machine.
    t.ok(ms >= CLIENT_HEADER_MS - 50 && ms < CLIENT_HEADER_MS + 1500, `${name}: cut after ${ms.toFixed(0)} ms (clientHeader ${CLIENT_HEADER_MS} ms)`);
    t.match(answer, /^HTTP\/1\.1 408 [^]*"code":"VF_ERR_CLIENT_TIMEOUT"/, `${name}: 408 in the VeloFlux error shape`);
  }
});

/** GET on the API with a chosen Host header (fetch does not let a caller set Host). */
function getWithHost(path: string, host: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: vf.apiPort, path, headers: { host }, agent: false }, (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens a stream with a chosen Host header: 101 and the first message, or the refusal. */
function streamWithHost(host: string): Promise<{ status: number; first?: any; body?: any }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${vf.apiPort}/api/ws/health`, { headers: { host } });
    ws.on('error', () => {});
    ws.once('message', (data) => {
      resolve({ status: 101, first: JSON.parse(String(data)) });
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += String(chunk)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) }));
    });
  });
}

t.test('server.api.allowedHosts: another Host gets 421 on REST and on stream upgrades; listed names are served', async (t) => {
  for (const path of ['/api/version', '/health', '/api/nope']) {
    const refused = await getWithHost(path, 'rebound.evil.example');
    t.equal(refused.status, 421, `${path} with a foreign Host: 421`);
    t.equal(refused.body.error.code, 'VF_ERR_HOST_NOT_ALLOWED');
  }
  t.equal((await getWithHost('/api/version', 'api.test')).status, 200, 'a listed name: served');
  t.equal((await getWithHost('/api/version', 'API.test:9090')).status, 200, 'a listed name on any port, any case: served');
  t.equal((await fetch(`${vf.apiUrl}/api/version`)).status, 200, '127.0.0.1:<port> (listed): served');

  const refused = await streamWithHost('rebound.evil.example');
  t.equal(refused.status, 421, 'a stream upgrade with a foreign Host: 421 before any WebSocket exists');
  t.equal(refused.body?.error.code, 'VF_ERR_HOST_NOT_ALLOWED');
  const accepted = await streamWithHost('api.test');
  t.equal(accepted.status, 101, 'a listed name: the stream opens');
  t.equal(accepted.first?.type, 'health', 'and sends its first message');
});
