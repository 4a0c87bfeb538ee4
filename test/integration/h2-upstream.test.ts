/**
 * `pools[].protocol: h2` on a real VeloFlux (issue 20): HTTP/1.1 and h2 clients reach h2c and
 * h2-over-TLS backends (real node:http2 servers) through the same routes; bodies, response
 * trailers (to both) and request trailers (h2 client to h2 backend) pass; a refused backend is
 * the usual 502 with VF_ERR_UPSTREAM_CONNECT, retried on another backend when that is safe.
 */
import t from 'tap';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createSecureServer, createServer, type Http2SecureServer, type Http2Server, type IncomingHttpHeaders } from 'node:http2';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { startVeloflux } from '../helpers/veloflux.js';
import { makeTestCertificates } from '../helpers/tls-certs.js';
import { h2Connect, h2Request } from '../helpers/h2-client.js';

const certs = makeTestCertificates();
t.teardown(() => certs.remove());
const served = certs.issue('localhost', 'DNS:localhost,IP:127.0.0.1');
const backendCert = certs.issue('backend', 'DNS:localhost,IP:127.0.0.1');

interface Seen {
  headers: IncomingHttpHeaders;
  body: string;
  trailers: IncomingHttpHeaders;
}

/** An h2 backend that echoes the path, the body's length and its own name, and ends with a trailer. */
async function h2Backend(name: string, tls: boolean) {
  const server: Http2Server | Http2SecureServer = tls ? createSecureServer({ cert: readFileSync(backendCert.cert), key: readFileSync(backendCert.key) }) : createServer();
  const seen: Seen[] = [];
  server.on('stream', (stream, headers) => {
    const record: Seen = { headers, body: '', trailers: {} };
    seen.push(record);
    stream.on('error', () => {});
    stream.on('data', (chunk: Buffer) => (record.body += chunk.toString()));
    stream.on('trailers', (trailers) => (record.trailers = trailers));
    stream.on('end', () => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-backend': name }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': `${name}-${record.body.length}` }));
      stream.end(`${name} ${headers[':method']} ${headers[':path']} ${record.body.length}`);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return { url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const clear = await h2Backend('h2c', false);
const secure = await h2Backend('tls', true);
const probe = createNetServer().listen(0, '127.0.0.1');
await once(probe, 'listening');
const deadPort = (probe.address() as AddressInfo).port;
await new Promise((resolve) => probe.close(resolve));
const caFile = `${backendCert.cert}.ca.pem`;
(await import('node:fs')).writeFileSync(caFile, certs.ca);

const vf = await startVeloflux({
  server: { https: { port: 0, host: '127.0.0.1', certificates: [served] }, accessLog: { mode: 'all' } },
  pools: [
    { name: 'clear', protocol: 'h2', backends: [{ id: 'h2c-1', url: clear.url }] },
    { name: 'secure', protocol: 'h2', tls: { ca: caFile }, backends: [{ id: 'tls-1', url: secure.url }] },
    { name: 'failover', protocol: 'h2', retries: 1, algorithm: 'round_robin', backends: [{ id: 'dead-1', url: `http://127.0.0.1:${deadPort}` }, { id: 'h2c-2', url: clear.url }] },
    { name: 'dead', protocol: 'h2', retries: 0, backends: [{ id: 'dead-2', url: `http://127.0.0.1:${deadPort}` }] },
  ],
  routes: [
    { path: '/clear/', pool: 'clear' },
    { path: '/secure/', pool: 'secure' },
    { path: '/failover/', pool: 'failover' },
    { path: '/dead/', pool: 'dead' },
  ],
});
t.teardown(async () => {
  await vf.stop();
  await Promise.all([clear.close(), secure.close()]);
});

/** An HTTP/1.1 request to the plain listener; resolves with status, headers, body and trailers. */
function http1(path: string, body?: string): Promise<{ status: number; headers: Record<string, unknown>; body: string; trailers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${vf.url}${path}`, { method: body === undefined ? 'GET' : 'POST', headers: { te: 'trailers' } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text, trailers: res.trailers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

t.test('an HTTP/1.1 client reaches an h2c backend; the response trailers come back chunked', async (t) => {
  const answer = await http1('/clear/x?y=1', 'twelve bytes');
  t.equal(answer.status, 200);
  t.equal(answer.body, 'h2c POST /clear/x?y=1 12');
  t.equal(answer.headers['x-backend'], 'h2c');
  t.equal(answer.trailers['x-checksum'], 'h2c-12');
  const seen = clear.seen.at(-1)!.headers;
  t.equal(seen[':authority'], `127.0.0.1:${vf.port}`, 'the client Host became :authority');
  t.equal(seen['x-forwarded-proto'], 'http', 'forwarding headers are added as for HTTP/1.1 backends');
  t.ok(typeof seen['x-request-id'] === 'string');
});

t.test('an h2 client reaches an h2-over-TLS backend; its request trailers go through', async (t) => {
  const session = await h2Connect(vf.httpsPort!, certs.ca);
  t.teardown(() => session.close());
  const answer = await new Promise<{ status: number; body: string; trailers: IncomingHttpHeaders }>((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': '/secure/upload', ':authority': 'localhost' }, { waitForTrailers: true });
    let status = 0;
    let body = '';
    let trailers: IncomingHttpHeaders = {};
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
    stream.on('trailers', (h) => (trailers = h));
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-client-sum': '7' }));
    stream.on('end', () => resolve({ status, body, trailers }));
    stream.on('error', reject);
    stream.end('payload');
  });
  t.equal(answer.status, 200);
  t.equal(answer.body, 'tls POST /secure/upload 7');
  t.equal(answer.trailers['x-checksum'], 'tls-7', 'response trailers reach the h2 client');
  const seen = secure.seen.at(-1)!;
  t.equal(seen.headers[':scheme'], 'https', 'the backend was spoken to over TLS');
  t.equal(seen.trailers['x-client-sum'], '7', 'request trailers reached the h2 backend');

  const many = await Promise.all(Array.from({ length: 20 }, (_, i) => h2Request(session, { ':path': `/clear/n${i}`, ':authority': 'localhost' })));
  t.same(many.map((a) => a.body.toString()), Array.from({ length: 20 }, (_, i) => `h2c GET /clear/n${i} 0`), 'many concurrent streams, each its own answer');
});

t.test('a refused h2 backend: 502 VF_ERR_UPSTREAM_CONNECT, or a retry on another backend for a GET', async (t) => {
  const failed = await http1('/dead/x');
  t.equal(failed.status, 502);
  t.equal(JSON.parse(failed.body).error.code, 'VF_ERR_UPSTREAM_CONNECT');
  for (let i = 0; i < 4; i++) {
    const answer = await http1(`/failover/${i}`);
    t.equal(answer.status, 200, `GET ${i} succeeds on the live backend`);
    t.equal(answer.headers['x-backend'], 'h2c');
  }
});
