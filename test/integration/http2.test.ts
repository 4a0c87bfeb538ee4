/**
 * HTTP/2 to clients on the HTTPS listener (issue 20), on a real VeloFlux with real HTTP/1.1
 * upstreams: ALPN picks h2 (and still http/1.1 for HTTP/1.1 clients on the same port), every
 * stream takes the same request path (routing, forwarding headers, access log with the
 * protocol, metrics), pseudo-headers become the request line and Host, cookies are joined,
 * connection-specific headers are refused, no Connection/Keep-Alive/Transfer-Encoding reach an
 * h2 client, bodies stream both ways with flow control, many streams share one connection, a
 * backend failing mid-response resets the stream, and curl negotiates h2.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import type { ClientHttp2Session } from 'node:http2';
import { promisify } from 'node:util';
import { startUpstream, type SeenRequest } from '../helpers/upstream.js';
import { startVeloflux } from '../helpers/veloflux.js';
import { makeTestCertificates } from '../helpers/tls-certs.js';
import { h2Connect, h2Request } from '../helpers/h2-client.js';
import { waitFor } from '../helpers/processes.js';
import { scrape } from '../helpers/metrics.js';

const certs = makeTestCertificates();
t.teardown(() => certs.remove());
const served = certs.issue('localhost', 'DNS:localhost,DNS:shop.test,IP:127.0.0.1');

const web = await startUpstream();
const shop = await startUpstream();
/** Echoes the body's length and SHA-256, after pausing its reads when the path asks. */
let uploadWrittenWhilePaused = -1;
const sink = await startUpstream((req, res) => {
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  if (req.url === '/slow-reader') {
    req.pause();
    setTimeout(() => req.resume(), 1000);
  }
  req.on('end', () => res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
});
/** Streams `size` deterministic bytes, honouring backpressure; records how far it got. */
const DOWNLOAD_SIZE = 64 * 1024 * 1024;
let downloadWritten = 0;
const source = await startUpstream((req, res) => {
  req.resume();
  if (req.url === '/half') {
    res.writeHead(200, { 'content-length': '1000' });
    res.write(Buffer.alloc(500, 97));
    setTimeout(() => res.socket?.destroy(), 100);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(DOWNLOAD_SIZE), connection: 'keep-alive', 'keep-alive': 'timeout=5' });
  const chunk = Buffer.alloc(64 * 1024, 120);
  downloadWritten = 0;
  const pump = (): void => {
    while (downloadWritten < DOWNLOAD_SIZE) {
      downloadWritten += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
});
const chunked = await startUpstream((req, res) => {
  req.resume();
  // No Content-Length: chunked to the proxy, which must not pass Transfer-Encoding to h2.
  res.writeHead(200, { 'content-type': 'text/plain', 'x-multi': ['a', 'b'] });
  res.write('hello ');
  setTimeout(() => res.end('world'), 20);
});
/** Ends its chunked body with a trailer section, as gRPC-over-HTTP/1.1 bridges and checksumming servers do. */
const trailing = await startUpstream((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum, grpc-status, content-type' });
  res.write('body with trailers');
  // (A Content-Length trailer would be a bad response: llhttp refuses it outright.)
  res.addTrailers({ 'x-checksum': 'sha256=abc', 'grpc-status': '0', 'content-type': 'text/html' });
  res.end();
});
t.teardown(() => Promise.all([web.close(), shop.close(), sink.close(), source.close(), chunked.close(), trailing.close()]));

const vf = await startVeloflux({
  server: {
    https: { port: 0, host: '127.0.0.1', certificates: [served], http2: { maxConcurrentStreams: 100 } },
    accessLog: { mode: 'all' },
    limits: { maxBodySize: '64mb' },
  },
  pools: [
    { name: 'web', backends: [{ id: 'web-1', url: web.url }] },
    { name: 'shop', backends: [{ id: 'shop-1', url: shop.url }] },
    { name: 'sink', backends: [{ id: 'sink-1', url: sink.url }] },
    { name: 'source', backends: [{ id: 'source-1', url: source.url }], retries: 0 },
    { name: 'chunked', backends: [{ id: 'chunked-1', url: chunked.url }] },
    { name: 'trailing', backends: [{ id: 'trailing-1', url: trailing.url }] },
  ],
  routes: [
    { path: '/', pool: 'web' },
    { host: 'shop.test', path: '/', pool: 'shop' },
    { path: '/upload/', pool: 'sink', stripPrefix: true },
    { path: '/download/', pool: 'source', stripPrefix: true },
    { path: '/chunked', pool: 'chunked' },
    { path: '/trailers', pool: 'trailing' },
  ],
});
t.teardown(() => vf.stop());
const port = vf.httpsPort!;

let session: ClientHttp2Session;
t.before(async () => {
  session = await h2Connect(port, certs.ca);
});
t.teardown(() => session?.close());

const lastSeen = (upstream: { requests: SeenRequest[] }) => upstream.requests.at(-1)!;

t.test('ALPN offers h2 first; the session is h2 over TLS', async (t) => {
  t.equal(session.alpnProtocol, 'h2');
  t.equal(session.encrypted, true);
});

t.test('a GET is routed by :path and :authority, and reaches the backend as HTTP/1.1 with Host from :authority', async (t) => {
  const answer = await h2Request(session, { ':path': '/hello?x=1', ':authority': 'localhost', 'x-custom': 'kept' });
  t.equal(answer.status, 200);
  const seen = lastSeen(web);
  t.equal(seen.method, 'GET');
  t.equal(seen.url, '/hello?x=1');
  t.equal(seen.headers.host, 'localhost');
  t.equal(seen.headers['x-custom'], 'kept');
  t.equal(seen.headers['x-forwarded-proto'], 'https');
  t.equal(seen.headers['x-forwarded-host'], 'localhost');
  t.match(seen.headers.via, /^2 /, 'Via names the protocol the client spoke (RFC 9110 §7.6.3)');
  t.notOk(Object.keys(seen.headers).some((name) => name.startsWith(':')), 'no pseudo-header is forwarded');
  t.equal(answer.headers['x-upstream-port'], String(web.port), 'response headers come back');

  const toShop = await h2Request(session, { ':path': '/cart', ':authority': 'shop.test:443' });
  t.equal(toShop.status, 200);
  t.equal(lastSeen(shop).url, '/cart', 'the :authority host picks the route');
  t.equal(lastSeen(shop).headers.host, 'shop.test:443');
});

t.test('a Host that contradicts :authority is refused (RFC 9113 §8.3.1)', async (t) => {
  const before = web.requests.length + shop.requests.length;
  const answer = await h2Request(session, { ':path': '/', ':authority': 'localhost', host: 'shop.test' });
  t.equal(answer.status, 400);
  t.equal(JSON.parse(answer.body.toString()).error.code, 'VF_ERR_BAD_REQUEST');
  t.equal(web.requests.length + shop.requests.length, before, 'nothing reached a backend');
});

t.test('cookie crumbs are joined with "; " for the HTTP/1.1 backend (RFC 9113 §8.2.3)', async (t) => {
  const answer = await h2Request(session, { ':path': '/c', cookie: ['a=1', 'b=2', 'c=3'] });
  t.equal(answer.status, 200);
  t.equal(lastSeen(web).headers.cookie, 'a=1; b=2; c=3');
  t.equal(lastSeen(web).rawHeaders.filter((name) => name.toLowerCase() === 'cookie').length, 1, 'one Cookie field');
});

t.test('responses to h2 clients carry no connection-specific fields, even from a chunked keep-alive backend', async (t) => {
  const answer = await h2Request(session, { ':path': '/chunked' });
  t.equal(answer.status, 200);
  t.equal(answer.body.toString(), 'hello world');
  t.equal(answer.headers['x-multi'], 'a, b', 'repeated fields come through');
  for (const name of ['connection', 'keep-alive', 'transfer-encoding', 'upgrade']) t.equal(answer.headers[name], undefined, `no ${name}`);

  const download = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const stream = session.request({ ':path': '/download/head-only', ':method': 'HEAD' });
    stream.on('response', resolve);
    stream.on('error', reject);
    stream.resume();
  });
  t.equal(download[':status'], 200);
  t.equal(download['keep-alive'], undefined, 'the backend\'s Keep-Alive is dropped');
  t.equal(download.connection, undefined, 'the backend\'s Connection is dropped');
});

t.test('request bodies: with Content-Length and without (sent upstream chunked)', async (t) => {
  const body = Buffer.alloc(100_000, 7);
  const expected = createHash('sha256').update(body).digest('hex');
  const sized = await h2Request(session, { ':method': 'POST', ':path': '/upload/sized', 'content-length': String(body.length) }, body);
  t.same(JSON.parse(sized.body.toString()), { bytes: body.length, sha256: expected });
  t.equal(lastSeen(sink).headers['content-length'], String(body.length));

  const unsized = await h2Request(session, { ':method': 'PUT', ':path': '/upload/unsized' }, body);
  t.same(JSON.parse(unsized.body.toString()), { bytes: body.length, sha256: expected });
  t.equal(lastSeen(sink).headers['transfer-encoding'], 'chunked');
});

t.test('a large upload streams with flow control: the client cannot run ahead of a backend that is not reading', async (t) => {
  const total = 48 * 1024 * 1024;
  const chunk = Buffer.alloc(256 * 1024, 5);
  const hash = createHash('sha256');
  const stream = session.request({ ':method': 'POST', ':path': '/upload/slow-reader', 'content-length': String(total) });
  let flushed = 0;
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      sent += chunk.length;
      hash.update(chunk);
      const ok = stream.write(chunk, () => (flushed += chunk.length));
      if (!ok) return void stream.once('drain', pump);
    }
    stream.end();
  };
  pump();
  // The backend reads nothing for its first second: flow control holds the client back.
  await new Promise((resolve) => setTimeout(resolve, 600));
  t.ok(flushed < total / 2, `only ${flushed} of ${total} bytes left the client while the backend did not read`);
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  await new Promise((resolve) => stream.on('end', resolve));
  t.same(JSON.parse(Buffer.concat(chunks).toString()), { bytes: total, sha256: hash.digest('hex') }, 'every byte arrived in order');
});

t.test('a large download streams with backpressure: a client that stops reading stops the backend', async (t) => {
  const stream = session.request({ ':path': '/download/big' });
  let received = 0;
  const hash = createHash('sha256');
  stream.on('data', (c: Buffer) => {
    received += c.length;
    hash.update(c);
  });
  await new Promise((resolve) => stream.once('response', resolve));
  stream.pause();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  t.ok(downloadWritten < DOWNLOAD_SIZE / 2, `the backend wrote ${downloadWritten} of ${DOWNLOAD_SIZE} bytes while the client read nothing`);
  stream.resume();
  await new Promise((resolve) => stream.on('end', resolve));
  t.equal(received, DOWNLOAD_SIZE);
  t.equal(hash.digest('hex'), createHash('sha256').update(Buffer.alloc(DOWNLOAD_SIZE, 120)).digest('hex'));
});

t.test('many concurrent streams on one connection each get their own answer', async (t) => {
  const count = 100;
  const answers = await Promise.all(Array.from({ length: count }, (_, i) => h2Request(session, { ':path': `/many/${i}` })));
  t.equal(answers.filter((a) => a.status === 200).length, count);
  t.ok(answers.every((a, i) => JSON.parse(a.body.toString()).url === `/many/${i}`), 'each answer is its own request\'s');
});

t.test('a backend that fails mid-response resets the stream instead of ending it cleanly', async (t) => {
  const failure = await h2Request(session, { ':path': '/download/half' }).then(
    () => undefined,
    (err: Error & { rstCode?: number }) => err,
  );
  t.ok(failure, 'the truncated response is not taken for a whole one');
  t.equal(failure?.rstCode, 2, 'RST_STREAM INTERNAL_ERROR');
  const after = await h2Request(session, { ':path': '/still-there' });
  t.equal(after.status, 200, 'the connection and its other streams carry on');
});

t.test('errors VeloFlux answers itself reach h2 clients as JSON, without closing the connection', async (t) => {
  const bad = await h2Request(session, { ':path': '/%zz' });
  t.equal(bad.status, 400);
  t.equal(bad.headers.connection, undefined);
  const connect = await h2Request(session, { ':method': 'CONNECT', ':authority': 'example.com:443' }).catch((err: Error) => err);
  t.equal((connect as { status?: number }).status, 405, 'CONNECT is refused as on HTTP/1.1');
  t.equal((await h2Request(session, { ':path': '/after-errors' })).status, 200);
  t.notOk(session.closed || session.destroyed, 'the same session serves on');
});

t.test('HTTP/1.1 clients on the same port are served as before', async (t) => {
  const answer = await new Promise<{ status: number; alpn: string | false | null; connection: string | undefined; body: string }>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/http1', ca: certs.ca, servername: 'localhost', ALPNProtocols: ['h2-not-this', 'http/1.1'], agent: false, headers: { host: 'localhost' } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, alpn: (res.socket as import('node:tls').TLSSocket).alpnProtocol, connection: res.headers.connection, body }));
    });
    req.on('error', reject);
    req.end();
  });
  t.equal(answer.status, 200);
  t.equal(answer.alpn, 'http/1.1', 'a client offering http/1.1 (and no h2) gets it');
  t.equal(JSON.parse(answer.body).url, '/http1');
  t.match(lastSeen(web).headers.via, /^1\.1 /);

  const offeredNothing = await new Promise<string | false | null>((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: certs.ca, servername: 'localhost' }, () => {
      socket.write('GET /no-alpn HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n');
    });
    let raw = '';
    socket.on('data', (c) => (raw += c));
    socket.on('end', () => resolve(raw.startsWith('HTTP/1.1 200') ? socket.alpnProtocol : `unexpected: ${raw.slice(0, 40)}`));
    socket.on('error', reject);
  });
  t.equal(offeredNothing, false, 'a client without ALPN speaks HTTP/1.1');
});

t.test('the access log and the metrics carry the protocol', async (t) => {
  await h2Request(session, { ':path': '/logged-h2' });
  await waitFor(() => vf.logs().some((l) => l.type === 'access' && l.method === 'GET' && l.protocol === 'HTTP/2' && l.route === '*/'), 5000, 'an HTTP/2 access line');
  await waitFor(() => vf.logs().some((l) => l.type === 'access' && l.protocol === 'HTTP/1.1'), 5000, 'an HTTP/1.1 access line');
  // Workers report their counters once a second.
  let h2Requests = 0;
  for (let i = 0; i < 40 && h2Requests === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const series = [...(await scrape(vf))].filter(([name]) => name.startsWith('veloflux_http2_requests_total{') && name.includes('pool="web"'));
    h2Requests = series.reduce((sum, [, value]) => sum + value, 0);
  }
  t.ok(h2Requests > 0, `veloflux_http2_requests_total counts the h2 requests (${h2Requests})`);
});

t.test('curl --http2 negotiates h2 through VeloFlux', async (t) => {
  const version = await promisify(execFile)('curl', ['--version']).then((r) => r.stdout, () => '');
  if (!/HTTP2/.test(version)) return void t.skip('curl without HTTP/2 support');
  const { stdout } = await promisify(execFile)('curl', ['-sk', '--http2', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', '--resolve', `localhost:${port}:127.0.0.1`, `https://localhost:${port}/curl`]);
  t.equal(stdout, '2 200');
  t.equal(lastSeen(web).url, '/curl');
});

t.test('a body over server.limits.maxBodySize gets 413 on its stream, and the connection serves on', async (t) => {
  const before = sink.requests.length;
  const declared = session.request({ ':method': 'POST', ':path': '/upload/too-big', 'content-length': String(100 * 1024 * 1024) });
  // Less than the stream's flow-control window, so node's client holds nothing back unsent and
  // reports the RST_STREAM as soon as it arrives.
  declared.write(Buffer.alloc(16 * 1024));
  declared.on('error', () => {});
  declared.resume();
  const head = await new Promise<Record<string, unknown>>((resolve) => declared.once('response', resolve));
  t.equal(head[':status'], 413);
  await new Promise((resolve) => declared.once('close', resolve));
  t.equal(declared.rstCode, 0, 'the unread body is refused with RST_STREAM NO_ERROR after the answer (RFC 9113 §8.1)');
  t.equal(sink.requests.length, before, 'the backend never saw it');

  const streamed = session.request({ ':method': 'POST', ':path': '/upload/too-big-unsized' });
  const chunk = Buffer.alloc(1024 * 1024);
  let status: unknown;
  streamed.once('response', (h) => (status = h[':status']));
  streamed.on('error', () => {});
  streamed.resume();
  const pump = (): void => {
    while (!streamed.destroyed && !streamed.writableEnded && status === undefined) if (!streamed.write(chunk)) return void streamed.once('drain', pump);
  };
  pump();
  await new Promise((resolve) => streamed.once('end', resolve));
  t.equal(status, 413, 'a body without length is cut at the limit with 413');
  streamed.destroy();
  t.equal((await h2Request(session, { ':path': '/after-413' })).status, 200);
});

t.test('with server.https.http2.enabled false the listener offers http/1.1 only', async (t) => {
  const plain = await startVeloflux({
    server: { https: { port: 0, host: '127.0.0.1', certificates: [served], http2: { enabled: false } } },
    pools: [{ name: 'web', backends: [{ id: 'web-1', url: web.url }] }],
    routes: [{ path: '/', pool: 'web' }],
  });
  t.teardown(() => plain.stop());
  const alpn = (protocols: string[]) =>
    new Promise<string | false | null>((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: plain.httpsPort!, ca: certs.ca, servername: 'localhost', ALPNProtocols: protocols }, () => {
        resolve(socket.alpnProtocol);
        socket.end();
      });
      socket.on('error', () => resolve(null));
    });
  t.equal(await alpn(['h2', 'http/1.1']), 'http/1.1');
  t.not(await alpn(['h2']), 'h2', 'an h2-only client never gets h2');
});

t.test('response trailers from a chunked backend reach h2 and HTTP/1.1 clients, minus fields trailers may not carry', async (t) => {
  const viaH2 = await h2Request(session, { ':path': '/trailers', te: 'trailers' });
  t.equal(viaH2.body.toString(), 'body with trailers');
  t.equal(viaH2.trailers['x-checksum'], 'sha256=abc', 'h2: a trailing HEADERS frame');
  t.equal(viaH2.trailers['grpc-status'], '0');
  t.equal(viaH2.trailers['content-type'], undefined, 'no field that controls the message in trailers (RFC 9110 §6.5.1)');

  const viaHttp1 = await new Promise<{ body: string; trailers: Record<string, string | undefined> }>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/trailers', ca: certs.ca, servername: 'localhost', ALPNProtocols: ['http/1.1'], agent: false, headers: { host: 'localhost', te: 'trailers' } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ body, trailers: res.trailers }));
    });
    req.on('error', reject);
    req.end();
  });
  t.equal(viaHttp1.body, 'body with trailers');
  t.equal(viaHttp1.trailers['x-checksum'], 'sha256=abc', 'HTTP/1.1: in the last chunk');
  t.equal(viaHttp1.trailers['content-type'], undefined);
});
