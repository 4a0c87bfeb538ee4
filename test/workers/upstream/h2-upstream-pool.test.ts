/**
 * The h2 upstream client against real node:http2 servers on 127.0.0.1 (h2c with prior knowledge,
 * and h2 over TLS by ALPN): header conversion, bodies and trailers both ways, one session shared
 * by concurrent calls, backpressure, GOAWAY, refused streams, Trailers-Only gRPC answers, and
 * the errors the exchange classifies (connect refused, connect and response timeouts).
 */
import t from 'tap';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { constants, createSecureServer, createServer, type Http2SecureServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { PassThrough } from 'node:stream';
import { H2UpstreamPool } from '../../../src/workers/upstream/h2-upstream-pool.js';
import type { UpstreamController, UpstreamHandler, UpstreamRequest } from '../../../src/workers/upstream/upstream-call.js';
import type { UpstreamPoolOptions } from '../../../src/workers/upstream/upstream-pool.js';
import { DeadlineWheel } from '../../../src/workers/deadline-wheel.js';
import { makeTestCertificates } from '../../helpers/tls-certs.js';

type CodedError = Error & { code?: string };

const wheel = new DeadlineWheel(50);

const OPTIONS: UpstreamPoolOptions = {
  connectTimeoutMs: 2000,
  responseTimeoutMs: 5000,
  keepAliveMs: 10_000,
  maxConnections: 4,
  tls: { ca: undefined, servername: undefined, rejectUnauthorized: true },
  protocol: 'h2',
};

/** Collects what the client hands a handler; `pauseAfterHead` returns false from onHeaders. */
class Recorder implements UpstreamHandler {
  status = 0;
  headers: string[] = [];
  body: Buffer[] = [];
  trailers: string[] | undefined;
  sent = 0;
  controller: UpstreamController | undefined;
  readonly done: Promise<void>;
  error: CodedError | undefined;
  #resolve!: () => void;
  constructor(readonly pauseAfterHead = false) {
    this.done = new Promise((resolve) => (this.#resolve = resolve));
  }
  onConnect(upstream: UpstreamController): void {
    this.controller = upstream;
  }
  onHeaders(status: number, headers: string[]): boolean {
    this.status = status;
    this.headers = headers;
    return !this.pauseAfterHead;
  }
  onData(chunk: Buffer): boolean {
    this.body.push(chunk);
    return true;
  }
  onComplete(trailers?: string[]): void {
    this.trailers = trailers;
    this.#resolve();
  }
  onError(err: Error): void {
    this.error = err;
    this.#resolve();
  }
  onBodySent(bytes: number): void {
    this.sent += bytes;
  }
  onUpgrade(): void {
    throw new Error('no upgrade expected');
  }
  header(name: string): string | undefined {
    const at = this.headers.indexOf(name);
    return at === -1 ? undefined : this.headers[at + 1];
  }
  get text(): string {
    return Buffer.concat(this.body).toString();
  }
}

function get(path: string, headers: string[] = ['host', 'app.test']): UpstreamRequest {
  return { method: 'GET', path, headers, body: null, contentLength: 0 };
}

interface Seen {
  headers: IncomingHttpHeaders;
  body: string;
  trailers: IncomingHttpHeaders;
}

/** A real h2 server whose `handler` answers each stream; records what streams carried and how many sessions opened. */
async function startBackend(handler: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, seen: Seen) => void, secure?: { cert: string; key: string }) {
  const server: Http2Server | Http2SecureServer = secure === undefined ? createServer() : createSecureServer({ cert: readFileSync(secure.cert), key: readFileSync(secure.key) });
  const seen: Seen[] = [];
  const open: ServerHttp2Session[] = [];
  let sessions = 0;
  server.on('session', (session) => {
    sessions++;
    open.push(session);
    session.on('error', () => {});
  });
  server.on('stream', (stream, headers) => {
    const record: Seen = { headers, body: '', trailers: {} };
    seen.push(record);
    stream.on('error', () => {});
    stream.on('data', (chunk: Buffer) => (record.body += chunk.toString()));
    stream.on('trailers', (trailers) => (record.trailers = trailers));
    handler(stream, headers, record);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `${secure === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    seen,
    server,
    get sessions() {
      return sessions;
    },
    /** GOAWAY on every session the backend has. */
    goaway: () => {
      for (const session of open) if (!session.closed) session.close();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const echo = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void => {
  stream.on('end', () => {
    if (stream.destroyed) return;
    stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-path': String(headers[':path']) }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc' }));
    stream.end(`hello ${headers[':path']}`);
  });
  stream.resume();
};

t.test('h2c: the request goes out as h2 headers, the answer comes back with its trailers', async (t) => {
  const backend = await startBackend(echo);
  const pool = new H2UpstreamPool(backend.url, OPTIONS, wheel);
  t.teardown(async () => {
    pool.destroy();
    await backend.close();
  });
  const handler = new Recorder();
  pool.dispatch(get('/a?b=1', ['Host', 'app.test', 'X-Custom', 'one', 'x-custom', 'two', 'connection', 'close', 'te', 'gzip']), handler);
  await handler.done;
  t.equal(handler.error, undefined);
  t.equal(handler.status, 200);
  t.equal(handler.text, 'hello /a?b=1');
  t.equal(handler.header('x-path'), '/a?b=1');
  t.notOk(handler.headers.some((name) => name.startsWith(':')), 'no pseudo-header reaches the handler');
  t.same(handler.trailers, ['x-checksum', 'abc']);
  const seen = backend.seen[0]!.headers;
  t.equal(seen[':authority'], 'app.test', 'Host became :authority (RFC 9113 §8.3.1)');
  t.equal(seen[':scheme'], 'http');
  t.equal(seen[':method'], 'GET');
  t.equal(seen['x-custom'], 'one, two', 'repeated fields arrive, lower-cased');
  t.equal(seen.connection, undefined, 'no connection-specific field (RFC 9113 §8.2.2)');
  t.equal(seen.te, 'trailers', 'TE is only ever "trailers"');
  t.equal(seen.host, undefined);
});

t.test('concurrent calls share one session; later calls reuse it', async (t) => {
  const backend = await startBackend((stream, headers) => {
    // Answers after a while, so the three streams are open at once.
    setTimeout(() => {
      stream.respond({ ':status': 200 });
      stream.end(`hello ${headers[':path']}`);
    }, 100);
  });
  const pool = new H2UpstreamPool(backend.url, OPTIONS, wheel);
  t.teardown(async () => {
    pool.destroy();
    await backend.close();
  });
  const handlers = [new Recorder(), new Recorder(), new Recorder()];
  handlers.forEach((h, i) => pool.dispatch(get(`/${i}`), h));
  await Promise.all(handlers.map((h) => h.done));
  t.same(handlers.map((h) => h.text), ['hello /0', 'hello /1', 'hello /2']);
  const again = new Recorder();
  pool.dispatch(get('/again'), again);
  await again.done;
  t.equal(again.status, 200);
  t.equal(backend.sessions, 1, 'one session carried all four calls');
  t.equal(pool.connections.open, 1);
});

t.test('a request body streams to the backend and the client\'s trailers follow it', async (t) => {
  const backend = await startBackend(echo);
  const pool = new H2UpstreamPool(backend.url, OPTIONS, wheel);
  t.teardown(async () => {
    pool.destroy();
    await backend.close();
  });
  const body = new PassThrough();
  const source = { trailers: {} as Record<string, string> };
  const handler = new Recorder();
  pool.dispatch({ method: 'POST', path: '/upload', headers: ['host', 'app.test', 'content-type', 'application/grpc'], body, contentLength: -1, trailerSource: source }, handler);
  body.write('part one, ');
  setTimeout(() => {
    source.trailers = { 'x-request-checksum': '42', connection: 'close' };
    body.end('part two');
  }, 50);
  await handler.done;
  t.equal(handler.status, 200);
  t.equal(backend.seen[0]!.body, 'part one, part two');
  t.equal(handler.sent, 'part one, part two'.length, 'body bytes are reported as sent');
  t.equal(backend.seen[0]!.trailers['x-request-checksum'], '42', 'request trailers reach the backend');
  t.equal(backend.seen[0]!.trailers.connection, undefined, 'a connection-specific field is not sent in trailers');
});

t.test('a gRPC Trailers-Only answer is handed on as a head plus trailers', async (t) => {
  const backend = await startBackend((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': 'unknown method' }, { endStream: true });
  });
  const pool = new H2UpstreamPool(backend.url, OPTIONS, wheel);
  t.teardown(async () => {
    pool.destroy();
    await backend.close();
  });
  const handler = new Recorder();
  pool.dispatch(get('/pkg.Svc/Nope'), handler);
  await handler.done;
  t.equal(handler.status, 200);
  t.equal(handler.header('content-type'), 'application/grpc');
  t.equal(handler.header('grpc-status'), undefined, 'the status is not in the head');
  t.same(handler.trailers, ['grpc-status', '12', 'grpc-message', 'unknown method']);
});

t.test('backpressure: a handler that stops reading stops the backend (flow control), resume reads on', async (t) => {
  const SIZE = 8 * 1024 * 1024;
  let written = 0;
  const backend = await startBackend((stream) => {
    stream.respond({ ':status': 200 });
    const chunk = Buffer.alloc(64 * 1024, 1);
    const pump = (): void => {
      while (written < SIZE) {
        written += chunk.length;
        if (!stream.write(chunk)) return void stream.once('drain', pump);
      }
      stream.end();
    };
    pump();
  });
  const pool = new H2UpstreamPool(backend.url, OPTIONS, wheel);
  t.teardown(async () => {
    pool.destroy();
    await backend.close();
  });
  const handler = new Recorder(true);
  pool.dispatch(get('/big'), handler);
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.ok(written < SIZE / 2, `the backend was held back while nobody read (${written} of ${SIZE} written)`);
  handler.controller!.resume();
  await handler.done;
  t.equal(Buffer.concat(handler.body).length, SIZE, 'every byte arrived after resume');
});

t.test('GOAWAY: the next call opens a new session', async (t) => {
  const backend = await startBackend(echo);
  const pool = new H2UpstreamPool(backend.url, OPTIONS, wheel);
  t.teardown(async () => {
    pool.destroy();
    await backend.close();
  });
  const first = new Recorder();
  pool.dispatch(get('/1'), first);
  await first.done;
  // The backend retires its session (GOAWAY, NO_ERROR), as a server does when it shuts down.
  backend.goaway();
  await new Promise((resolve) => setTimeout(resolve, 200));
  const last = new Recorder();
  pool.dispatch(get('/2'), last);
  await last.done;
  t.equal(last.error, undefined, 'the call after GOAWAY succeeds');
  t.equal(last.text, 'hello /2');
  t.equal(backend.sessions, 2, 'a second session was opened');
});

t.test('REFUSED_STREAM: a bodyless call is sent again once, on a fresh stream', async (t) => {
  let refused = 0;
  const backend = await startBackend((stream, headers) => {
    if (refused++ === 0) return void stream.close(constants.NGHTTP2_REFUSED_STREAM);
    echo(stream, headers);
  });
  const pool = new H2UpstreamPool(backend.url, OPTIONS, wheel);
  t.teardown(async () => {
    pool.destroy();
    await backend.close();
  });
  const handler = new Recorder();
  pool.dispatch(get('/retry-me'), handler);
  await handler.done;
  t.equal(handler.error, undefined);
  t.equal(handler.text, 'hello /retry-me');
  t.equal(backend.seen.length, 2, 'the backend saw the refused stream and the replay');
});

t.test('a backend that dies mid-response fails the call (no complete() for a cut body)', async (t) => {
  const backend = await startBackend((stream) => {
    stream.respond({ ':status': 200 });
    stream.write('partial');
    setTimeout(() => stream.session?.destroy(), 50);
  });
  const pool = new H2UpstreamPool(backend.url, OPTIONS, wheel);
  t.teardown(async () => {
    pool.destroy();
    await backend.close();
  });
  const handler = new Recorder();
  pool.dispatch(get('/cut'), handler);
  await handler.done;
  t.equal(handler.status, 200);
  t.match(handler.error?.code, /^(UPSTREAM_CLOSED|ECONNRESET)$/);
  t.equal(handler.text, 'partial');
});

t.test('errors: connection refused, connect timeout, response timeout', async (t) => {
  // A port that was just free: nothing listens there.
  const probe = createNetServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const freePort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const refusedPool = new H2UpstreamPool(`http://127.0.0.1:${freePort}`, OPTIONS, wheel);
  const refused = new Recorder();
  refusedPool.dispatch(get('/'), refused);
  await refused.done;
  t.equal(refused.error?.code, 'ECONNREFUSED');
  refusedPool.destroy();

  // A TCP server that accepts and never speaks h2: no SETTINGS, so the session never connects.
  const mute = createNetServer((socket) => socket.on('error', () => {})).listen(0, '127.0.0.1');
  await once(mute, 'listening');
  const mutePool = new H2UpstreamPool(`https://127.0.0.1:${(mute.address() as AddressInfo).port}`, { ...OPTIONS, connectTimeoutMs: 300 }, wheel);
  const silent = new Recorder();
  mutePool.dispatch(get('/'), silent);
  await silent.done;
  t.equal(silent.error?.code, 'UPSTREAM_CONNECT_TIMEOUT');
  mutePool.destroy();
  mute.close();

  const slow = await startBackend(() => {});
  const slowPool = new H2UpstreamPool(slow.url, { ...OPTIONS, responseTimeoutMs: 300 }, wheel);
  const waiting = new Recorder();
  slowPool.dispatch(get('/'), waiting);
  await waiting.done;
  t.equal(waiting.error?.code, 'UPSTREAM_RESPONSE_TIMEOUT');
  slowPool.destroy();
  await slow.close();
});

t.test('h2 over TLS: ALPN h2, the backend certificate verified against the pool CA', async (t) => {
  const certs = makeTestCertificates();
  t.teardown(() => certs.remove());
  const leaf = certs.issue('backend', 'DNS:localhost,IP:127.0.0.1');
  const backend = await startBackend(echo, leaf);
  t.teardown(() => backend.close());
  const trusted = new H2UpstreamPool(backend.url, { ...OPTIONS, tls: { ca: certs.ca, servername: undefined, rejectUnauthorized: true } }, wheel);
  const ok = new Recorder();
  trusted.dispatch(get('/secure'), ok);
  await ok.done;
  t.equal(ok.error, undefined);
  t.equal(ok.text, 'hello /secure');
  t.equal(backend.seen[0]!.headers[':scheme'], 'https');
  trusted.destroy();

  const untrusted = new H2UpstreamPool(backend.url, OPTIONS, wheel);
  const refused = new Recorder();
  untrusted.dispatch(get('/secure'), refused);
  await refused.done;
  t.match(refused.error?.code, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/, 'an unknown CA is refused');
  untrusted.destroy();
});
