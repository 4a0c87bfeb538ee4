/**
 * TLS on the data plane, on a real VeloFlux (2 workers) with certificates made at test time by
 * the openssl CLI and signed by a test CA: SNI picks the certificate by the names in it, TLS 1.0
 * and 1.1 are refused, ALPN offers h2 then http/1.1, requests over HTTPS carry
 * `x-forwarded-proto: https`, `redirectHttps` answers plain HTTP with a 308 without contacting
 * the upstream, certificates are reloaded from disk without a restart (and a reload with a
 * missing or mismatched file is refused while the old ones keep serving), and https:// upstreams
 * are verified by default, against `pools[].tls.ca`, or not at all with `insecureSkipVerify`.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer as createTlsServer, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import { WebSocket, WebSocketServer } from 'ws';
import { startUpstream } from '../helpers/upstream.js';
import { startVeloflux } from '../helpers/veloflux.js';

const dir = mkdtempSync(join(tmpdir(), 'veloflux-tls-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string) => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** EC P-256 keys: fast to generate, and every TLS version the tests try can use them. */
const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

openssl('req', '-x509', ...newKey, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=VeloFlux Test CA',
  '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');

/** A leaf certificate signed by the test CA, written as `<name>.pem` / `<name>.key`. */
function issue(name: string, cn: string, altNames: string): void {
  openssl('req', ...newKey, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${cn}`);
  writeFileSync(file(`${name}.ext`), `subjectAltName=${altNames}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-set_serial', `0x${Date.now().toString(16)}${name.length}`,
    '-days', '2', '-extfile', file(`${name}.ext`), '-out', file(`${name}.pem`));
}

issue('a', 'a.test', 'DNS:a.test');
issue('b', 'wildcard b', 'DNS:*.b.test');
issue('a2', 'a.test', 'DNS:a.test');
issue('upstream', 'localhost', 'DNS:localhost,IP:127.0.0.1');
const ca = readFileSync(file('ca.pem'), 'utf8');

// The files VeloFlux is configured with; the tests replace their contents.
copyFileSync(file('a.pem'), file('served-a.pem'));
copyFileSync(file('a.key'), file('served-a.key'));
copyFileSync(file('b.pem'), file('served-b.pem'));
copyFileSync(file('b.key'), file('served-b.key'));

const plain = await startUpstream();
const redirected = await startUpstream();
t.teardown(() => Promise.all([plain.close(), redirected.close()]));

// An https:// upstream with a certificate from the test CA (for 127.0.0.1, not in the system store).
const secureSeen: Record<string, string | string[] | undefined>[] = [];
const secure = createHttpsServer({ cert: readFileSync(file('upstream.pem')), key: readFileSync(file('upstream.key')) }, (req, res) => {
  secureSeen.push(req.headers);
  req.resume();
  req.on('end', () => res.end(JSON.stringify({ secure: true, url: req.url })));
});
// It also echoes WebSocket messages, for tunnels to https:// backends.
const secureEcho = new WebSocketServer({ server: secure });
secureEcho.on('connection', (socket) => socket.on('message', (data) => socket.send(`secure-echo:${data.toString()}`)));
t.teardown(() => secureEcho.close());
let secureHandshakes = 0;
secure.on('secureConnection', () => secureHandshakes++);
await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
t.teardown(() => new Promise<void>((resolve) => secure.close(() => resolve())));
const secureUrl = `https://127.0.0.1:${(secure.address() as AddressInfo).port}`;

const vf = await startVeloflux(
  {
    server: {
      https: { port: 0, host: '127.0.0.1', certificates: [{ cert: file('served-a.pem'), key: file('served-a.key') }, { cert: file('served-b.pem'), key: file('served-b.key') }] },
    },
    pools: [
      { name: 'web', backends: [{ id: 'plain', url: plain.url }] },
      { name: 'moved', backends: [{ id: 'moved', url: redirected.url }] },
      { name: 'up-ca', backends: [{ id: 'up-ca', url: secureUrl }], tls: { ca: file('ca.pem') } },
      { name: 'up-default', backends: [{ id: 'up-default', url: secureUrl }], retries: 0 },
      { name: 'up-skip', backends: [{ id: 'up-skip', url: secureUrl }], tls: { insecureSkipVerify: true } },
      { name: 'up-named', backends: [{ id: 'up-named', url: secureUrl }], tls: { ca: file('ca.pem'), servername: 'localhost' } },
      { name: 'up-misnamed', backends: [{ id: 'up-misnamed', url: secureUrl }], tls: { ca: file('ca.pem'), servername: 'wrong.test' }, retries: 0 },
      // Probed once at start (interval 1h): health checks verify TLS as the pool's traffic does.
      { name: 'up-checked', backends: [{ id: 'up-checked', url: secureUrl }], tls: { ca: file('ca.pem') }, healthCheck: { path: '/health', interval: '1h', timeout: '2s' } },
      { name: 'up-checked-untrusted', backends: [{ id: 'up-checked-untrusted', url: secureUrl }], healthCheck: { path: '/health', interval: '1h', timeout: '2s' } },
    ],
    routes: [
      { path: '/', pool: 'web' },
      { host: 'secure.test', path: '/', pool: 'moved', redirectHttps: true },
      { path: '/up/ca/', pool: 'up-ca' },
      { path: '/up/default/', pool: 'up-default' },
      { path: '/up/skip/', pool: 'up-skip' },
      { path: '/up/named/', pool: 'up-named' },
      { path: '/up/misnamed/', pool: 'up-misnamed' },
    ],
  },
  { workers: 2 },
);
t.teardown(() => vf.stop());
const httpsPort = vf.httpsPort!;

interface Handshake {
  cert: PeerCertificate | undefined;
  protocol: string | null;
  alpn: string | false | null;
  authorized: boolean;
  error: string | undefined;
}

/** One TLS handshake on a new connection to VeloFlux's HTTPS port (or `port`); never throws. */
function handshake(options: ConnectionOptions, port = httpsPort): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ca, ...options }, () => {
      resolve({ cert: socket.getPeerCertificate(), protocol: socket.getProtocol(), alpn: socket.alpnProtocol, authorized: socket.authorized, error: undefined });
      socket.end();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve({ cert: undefined, protocol: null, alpn: null, authorized: false, error: err.code ?? err.message }));
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
  });
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function fetchVia(secureTransport: boolean, path: string, options: { host?: string; servername?: string; method?: string; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const common = { host: '127.0.0.1', path, method: options.method ?? 'GET', agent: false as const, headers: { host: options.host ?? 'a.test' } };
    const onResponse = (res: import('node:http').IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    };
    const req = secureTransport
      ? httpsRequest({ ...common, port: httpsPort, ca, servername: options.servername ?? 'a.test' }, onResponse)
      : httpRequest({ ...common, port: vf.port }, onResponse);
    req.on('error', reject);
    req.end(options.body);
  });
}

const fingerprint = (pem: string) => execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', pem], { encoding: 'utf8' }).trim().split('=')[1]!.replaceAll(':', '');
const fingerprintOf = (h: Handshake) => h.cert?.fingerprint256?.replaceAll(':', '');

t.test('the ready line reports the bound HTTPS port', async (t) => {
  t.type(vf.httpsPort, 'number');
  t.not(vf.httpsPort, 0);
  const ready = vf.logs().find((l) => l.msg === 'veloflux ready')!;
  t.same(ready.https, { host: '127.0.0.1', port: httpsPort });
});

t.test('SNI picks the certificate by the names in it; no SNI or an unknown name gets the first', async (t) => {
  const a = await handshake({ servername: 'a.test' });
  t.equal(a.error, undefined);
  t.equal(a.cert?.subject.CN, 'a.test');
  t.equal(a.cert?.subjectaltname, 'DNS:a.test');
  t.ok(a.authorized, 'a.test verifies against the test CA');

  const b = await handshake({ servername: 'shop.b.test' });
  t.equal(b.cert?.subjectaltname, 'DNS:*.b.test');
  t.ok(b.authorized, 'the wildcard certificate verifies for shop.b.test');
  t.equal((await handshake({ servername: 'SHOP.B.TEST' })).cert?.subjectaltname, 'DNS:*.b.test', 'names compare case-insensitively');

  // RFC 6125 §6.4.3: a wildcard covers one label only.
  t.equal((await handshake({ servername: 'deep.shop.b.test', checkServerIdentity: () => undefined })).cert?.subjectaltname, 'DNS:a.test');
  t.equal((await handshake({ servername: 'other.test', checkServerIdentity: () => undefined })).cert?.subjectaltname, 'DNS:a.test');
  // An IP address as host sends no SNI at all.
  t.equal((await handshake({ checkServerIdentity: () => undefined })).cert?.subjectaltname, 'DNS:a.test');
});

t.test('TLS 1.0 and 1.1 are refused, 1.2 and 1.3 accepted', async (t) => {
  // OpenSSL 3 refuses TLS < 1.2 at its default security level, on the client too: lower it so
  // the refusal measured is the proxy's. A control server proves this client can speak TLS 1.1.
  const old: ConnectionOptions = { servername: 'a.test', minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' };
  const control = createTlsServer({ cert: readFileSync(file('a.pem')), key: readFileSync(file('a.key')), minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }, (s) => s.end());
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  const controlPort = (control.address() as AddressInfo).port;
  const controlHandshake = await handshake({ ...old, maxVersion: 'TLSv1.1' }, controlPort);
  control.close();
  t.equal(controlHandshake.protocol, 'TLSv1.1', 'control: this client negotiates TLS 1.1 where it is allowed');

  for (const maxVersion of ['TLSv1', 'TLSv1.1'] as const) {
    const h = await handshake({ ...old, maxVersion });
    t.not(h.error, undefined, `${maxVersion} refused (${h.error})`);
    t.equal(h.protocol, null);
  }
  t.equal((await handshake({ servername: 'a.test', maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
  t.equal((await handshake({ servername: 'a.test' })).protocol, 'TLSv1.3');
});

// node:cluster gives every worker listening on a shared handle the ticket keys of the first one
// (tls.Server _getServerData / _setServerData), so no key of VeloFlux's own is needed; this guards
// that property against a change in how workers listen (exclusive or reusePort sockets lose it).
t.test('a TLS session resumes on either worker: the workers share their session ticket keys', async (t) => {
  const base: ConnectionOptions = { host: '127.0.0.1', port: httpsPort, ca, servername: 'a.test' };
  const firstSession = (maxVersion: 'TLSv1.2' | 'TLSv1.3') =>
    new Promise<Buffer>((resolve, reject) => {
      const socket = connect({ ...base, maxVersion });
      // The ticket arrives after the handshake (TLS 1.3) or with it (TLS 1.2).
      socket.once('session', (session: Buffer) => {
        resolve(session);
        socket.end();
      });
      socket.on('error', reject);
      socket.setTimeout(5000, () => socket.destroy(new Error('no session ticket')));
    });
  /** A resumed connection carries one request, so the workers' request counts show who took it. */
  const resumes = (maxVersion: 'TLSv1.2' | 'TLSv1.3', session: Buffer) =>
    new Promise<boolean>((resolve, reject) => {
      const socket = connect({ ...base, maxVersion, session }, () => {
        const reused = socket.isSessionReused();
        socket.end('GET / HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n\r\n');
        socket.resume();
        socket.on('end', () => resolve(reused));
      });
      socket.on('error', reject);
      socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    });
  const requestsByWorker = async () => {
    const body = (await (await vf.admin('/admin/metrics')).json()) as { workers: { id: number; requests: number }[] };
    return new Map(body.workers.map((w) => [w.id, w.requests]));
  };
  const before = await requestsByWorker();
  for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
    const session = await firstSession(maxVersion);
    const reused: boolean[] = [];
    for (let i = 0; i < 8; i++) reused.push(await resumes(maxVersion, session));
    t.same(reused, Array(8).fill(true), `${maxVersion}: every reconnection resumed the session`);
  }
  // Workers report their counters once a second.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const after = await requestsByWorker();
  const served = [...after].filter(([id, requests]) => requests > (before.get(id) ?? 0));
  t.equal(served.length, 2, 'both workers took resumed connections');
});

t.test('ALPN: h2 first (server.https.http2 is on by default), http/1.1 for HTTP/1.1 clients, with SNI on either certificate', async (t) => {
  t.equal((await handshake({ servername: 'a.test', ALPNProtocols: ['h2', 'http/1.1'] })).alpn, 'h2');
  t.equal((await handshake({ servername: 'x.b.test', ALPNProtocols: ['h2', 'http/1.1'] })).alpn, 'h2');
  t.equal((await handshake({ servername: 'a.test', ALPNProtocols: ['http/1.1'] })).alpn, 'http/1.1');
  t.equal((await handshake({ servername: 'x.b.test', ALPNProtocols: ['http/1.1'] })).alpn, 'http/1.1');
});

t.test('requests over HTTPS reach the upstream with x-forwarded-proto: https', async (t) => {
  const before = plain.requests.length;
  const secureAnswer = await fetchVia(true, '/hello?x=1');
  t.equal(secureAnswer.status, 200);
  t.equal(plain.requests.length, before + 1);
  t.equal(plain.requests.at(-1)!.url, '/hello?x=1');
  t.equal(plain.requests.at(-1)!.headers['x-forwarded-proto'], 'https');
  t.equal(plain.requests.at(-1)!.headers['x-forwarded-host'], 'a.test');

  const plainAnswer = await fetchVia(false, '/hello');
  t.equal(plainAnswer.status, 200);
  t.equal(plain.requests.at(-1)!.headers['x-forwarded-proto'], 'http');

  // A client cannot claim HTTPS on the plain port (it is not a trusted proxy).
  await new Promise<void>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: vf.port, path: '/forged', agent: false, headers: { host: 'a.test', 'x-forwarded-proto': 'https' } }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end();
  });
  t.equal(plain.requests.at(-1)!.headers['x-forwarded-proto'], 'http');
});

t.test('redirectHttps: plain HTTP gets a 308 to the same URL on HTTPS, and the upstream sees nothing', async (t) => {
  const get = await fetchVia(false, '/cart/items?id=7&x=%20', { host: 'secure.test' });
  t.equal(get.status, 308);
  t.equal(get.headers.location, `https://secure.test:${httpsPort}/cart/items?id=7&x=%20`);

  const withPort = await fetchVia(false, '/', { host: `Secure.Test:${vf.port}` });
  t.equal(withPort.status, 308);
  t.equal(withPort.headers.location, `https://secure.test:${httpsPort}/`, 'the host loses its port and is lower-cased');

  const post = await fetchVia(false, '/submit', { host: 'secure.test', method: 'POST', body: 'x'.repeat(1000) });
  t.equal(post.status, 308, 'a POST is redirected too (308 keeps the method)');
  t.equal(post.headers.location, `https://secure.test:${httpsPort}/submit`);
  const bigPost = await fetchVia(false, '/upload', { host: 'secure.test', method: 'POST', body: 'x'.repeat(4 * 1024 * 1024) });
  t.equal(bigPost.status, 308, 'a large unread body does not cost the client the answer');
  t.equal(redirected.requests.length, 0, 'the upstream was never contacted');

  // Other hosts are not redirected; the same route over HTTPS is proxied.
  t.equal((await fetchVia(false, '/cart', { host: 'a.test' })).status, 200);
  const overTls = await fetchVia(true, '/cart/items?id=7', { host: 'secure.test', servername: 'a.test' });
  t.equal(overTls.status, 200);
  t.equal(redirected.requests.length, 1);
  t.equal(redirected.requests[0]!.url, '/cart/items?id=7');
  t.equal(redirected.requests[0]!.headers['x-forwarded-proto'], 'https');
});

t.test('https:// upstreams: verified by default, against pools[].tls.ca, or skipped on request', async (t) => {
  const withCa = await fetchVia(false, '/up/ca/x');
  t.equal(withCa.status, 200, withCa.body);
  t.same(JSON.parse(withCa.body), { secure: true, url: '/up/ca/x' });

  const before = secureSeen.length;
  const unverified = await fetchVia(false, '/up/default/x');
  t.equal(unverified.status, 502, 'a certificate the system store does not trust fails the request');
  t.equal(secureSeen.length, before, 'no request was sent over the unverified connection');

  const skipped = await fetchVia(true, '/up/skip/x');
  t.equal(skipped.status, 200, skipped.body);
  t.equal(secureSeen.at(-1)!['x-forwarded-proto'], 'https');

  t.equal((await fetchVia(false, '/up/named/x')).status, 200, 'pools[].tls.servername is the name verified');
  t.equal((await fetchVia(false, '/up/misnamed/x')).status, 502, 'a certificate for another name fails');

  // The name verified is the backend's, never the client's Host: changing Host neither breaks
  // verification nor costs a new upstream connection (one per worker at most).
  const handshakesBefore = secureHandshakes;
  for (const host of ['a.test', 'x.b.test', 'secure.test', 'evil.example', '127.0.0.1', 'a.test', 'other.test', 'x.b.test']) {
    t.equal((await fetchVia(false, '/up/ca/host', { host })).status, host === 'secure.test' ? 308 : 200, `Host: ${host}`);
  }
  t.ok(secureHandshakes - handshakesBefore <= 2, `upstream connections reused across Host values (${secureHandshakes - handshakesBefore} new)`);
});

t.test('health checks and WebSocket tunnels to https:// backends use the pool TLS settings', async (t) => {
  type Metrics = { pools: { name: string; backends: { healthy: boolean | null; lastProbe: { ok: boolean; error?: string } | null }[] }[] };
  let metrics: Metrics | undefined;
  for (let i = 0; i < 50; i++) {
    metrics = (await (await vf.admin('/admin/metrics')).json()) as Metrics;
    const probed = metrics.pools.filter((p) => p.name.startsWith('up-checked')).every((p) => p.backends[0]!.lastProbe !== null);
    if (probed) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const checked = metrics!.pools.find((p) => p.name === 'up-checked')!.backends[0]!;
  const untrusted = metrics!.pools.find((p) => p.name === 'up-checked-untrusted')!.backends[0]!;
  t.equal(checked.healthy, true, 'a probe verified against pools[].tls.ca passes');
  t.equal(checked.lastProbe?.ok, true);
  t.equal(untrusted.healthy, false, 'without the CA the probe fails verification');

  const ws = new WebSocket(`ws://127.0.0.1:${vf.port}/up/ca/ws`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send('over tls');
  const echoed = await new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
  t.equal(echoed, 'secure-echo:over tls', 'the tunnel to the https:// backend is TLS, verified with the pool CA');
  ws.close();
});

t.test('certificates are re-read on reload: new files are served without a restart; a bad reload changes nothing', async (t) => {
  const oldA = fingerprint(file('a.pem'));
  const newA = fingerprint(file('a2.pem'));
  const oldB = fingerprint(file('b.pem'));
  t.not(oldA, newA);
  const served = async (servername: string) => {
    // Fresh connections, spread over both workers.
    const seen = new Set<string | undefined>();
    for (let i = 0; i < 6; i++) seen.add(fingerprintOf(await handshake({ servername, checkServerIdentity: () => undefined })));
    return [...seen];
  };
  t.same(await served('a.test'), [oldA]);

  copyFileSync(file('a2.pem'), file('served-a.pem'));
  copyFileSync(file('a2.key'), file('served-a.key'));
  t.same(await served('a.test'), [oldA], 'nothing changes before the reload');
  const reload = await vf.admin('/admin/reload', { method: 'POST' });
  t.equal(reload.status, 200, await reload.text());
  t.same(await served('a.test'), [newA], 'every worker serves the new certificate');
  t.same(await served(''), [newA], 'clients without SNI get the new default certificate');
  t.same(await served('x.b.test'), [oldB]);

  // A missing file: refused everywhere, the running certificates keep serving.
  renameSync(file('served-b.pem'), file('served-b.pem.moved'));
  const missing = await vf.admin('/admin/reload', { method: 'POST' });
  t.ok(missing.status >= 400, `refused with ${missing.status}`);
  // The primary's validation names the file; a worker that found it gone would say the same.
  t.match(JSON.stringify(await missing.json()), /server\.https\.certificates\[1\]\.cert: cannot read .*served-b\.pem.*ENOENT/);
  t.same(await served('x.b.test'), [oldB]);
  t.same(await served('a.test'), [newA]);
  renameSync(file('served-b.pem.moved'), file('served-b.pem'));

  // A key that does not belong to its certificate: refused the same way.
  copyFileSync(file('a.key'), file('served-a.key'));
  const mismatched = await vf.admin('/admin/reload', { method: 'POST' });
  t.ok(mismatched.status >= 400, `refused with ${mismatched.status}`);
  t.match(JSON.stringify(await mismatched.json()), /server\.https\.certificates\[0\]\.key: .*does not match the certificate/);
  t.same(await served('a.test'), [newA]);
  copyFileSync(file('a2.key'), file('served-a.key'));

  const requests = await fetchVia(true, '/after-reload');
  t.equal(requests.status, 200, 'HTTPS keeps working after the refused reloads');
});

t.test('a certificate that cannot be read at start stops VeloFlux with a clear message', async (t) => {
  const started = startVeloflux({
    server: { https: { port: 0, host: '127.0.0.1', certificates: [{ cert: file('nope.pem'), key: file('a.key') }] } },
    pools: [{ name: 'web', backends: [{ id: 'plain', url: plain.url }] }],
    routes: [{ path: '/', pool: 'web' }],
  });
  const err = await started.then(
    (running) => {
      void running.stop();
      return undefined;
    },
    (e: Error) => e,
  );
  t.ok(err, 'it does not become ready');
  t.match(err?.message, /exited with 1 before ready/);
  t.match(err?.message, /server\.https\.certificates\[0\]\.cert: cannot read ".*nope\.pem": ENOENT/);
});
