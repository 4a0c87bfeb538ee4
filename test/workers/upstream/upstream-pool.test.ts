/**
 * The HTTP/1.1 upstream client against real backends on 127.0.0.1: raw `node:net` servers that
 * record every byte they receive and answer with hand-written bytes, so the framing on both
 * sides is asserted exactly.
 */
import t, { type Test } from 'tap';
import { EventEmitter, once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { UpstreamPool, type UpstreamPoolOptions } from '../../../src/workers/upstream/upstream-pool.js';
import type { UpstreamController, UpstreamHandler, UpstreamRequest } from '../../../src/workers/upstream/upstream-call.js';
import { DeadlineWheel } from '../../../src/workers/deadline-wheel.js';

type CodedError = Error & { code?: string };

/** How long any single awaited event may take before the test fails instead of hanging. */
const EVENT_MS = 1500;

// ---------------------------------------------------------------------------------------------
// Backend: a raw TCP server that records what each connection received.

class Conn {
  bytes = Buffer.alloc(0);
  closed = false;
  /** Request lines (`GET /x HTTP/1.1`) of the bodyless requests seen so far (see `answering`). */
  readonly requests: string[] = [];
  /** Where the next request head starts in `text`. */
  cursor = 0;
  constructor(
    readonly socket: Socket,
    readonly index: number,
  ) {}

  get text(): string {
    return this.bytes.toString('latin1');
  }
}

type OnData = (conn: Conn, backend: Backend) => void;

class Backend extends EventEmitter {
  readonly conns: Conn[] = [];
  readonly #server: Server;
  port = 0;

  constructor(onData: OnData = () => {}) {
    super();
    this.#server = createServer((socket) => {
      const conn = new Conn(socket, this.conns.length);
      this.conns.push(conn);
      socket.on('error', () => {}); // resets from the client are expected in several tests
      socket.on('data', (chunk: Buffer) => {
        conn.bytes = Buffer.concat([conn.bytes, chunk]);
        onData(conn, this);
        this.emit('change');
      });
      socket.on('close', () => {
        conn.closed = true;
        this.emit('change');
      });
      this.emit('change');
    });
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Every request line seen, across connections, in arrival order per connection. */
  get requests(): string[] {
    return this.conns.flatMap((conn) => conn.requests);
  }

  async listen(t: Test): Promise<this> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.port = (this.#server.address() as { port: number }).port;
    t.teardown(() => this.close());
    return this;
  }

  close(): Promise<void> {
    for (const conn of this.conns) conn.socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  /** Resolves once `condition()` holds, re-checked on every connection, data and close event. */
  until(condition: () => boolean, what: string, ms = EVENT_MS): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        this.off('change', check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.off('change', check);
        reject(new Error(`timed out waiting for: ${what}`));
      }, ms);
      this.on('change', check);
    });
  }
}

/** An OnData that answers each bodyless request head with `respond(requestLine)` (nothing when it returns undefined). */
function answering(respond: (line: string, conn: Conn) => string | Buffer | undefined): OnData {
  return (conn) => {
    for (;;) {
      const text = conn.text;
      const end = text.indexOf('\r\n\r\n', conn.cursor);
      if (end === -1) return;
      const line = text.slice(conn.cursor, text.indexOf('\r\n', conn.cursor));
      conn.cursor = end + 4;
      conn.requests.push(line);
      const answer = respond(line, conn);
      if (answer !== undefined) conn.socket.write(answer);
    }
  };
}

const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';

async function backend(t: Test, onData?: OnData): Promise<Backend> {
  return new Backend(onData).listen(t);
}

// ---------------------------------------------------------------------------------------------
// Client side.

/** The worker's one timer wheel, as the worker builds it. */
const wheel = new DeadlineWheel(100);

function pool(t: Test, origin: string, options: Partial<UpstreamPoolOptions> = {}): UpstreamPool {
  const upstream = new UpstreamPool(origin, {
    connectTimeoutMs: 1000,
    responseTimeoutMs: 1000,
    keepAliveMs: 5000,
    maxConnections: 4,
    tls: { ca: undefined, servername: undefined, rejectUnauthorized: true },
    ...options,
  }, wheel);
  t.teardown(() => upstream.destroy());
  return upstream;
}

function request(method: string, path: string, headers: string[] = [], body: PassThrough | null = null, contentLength = 0): UpstreamRequest {
  return { method, path, headers, body, contentLength };
}

/** Records everything the client reports for one call; `done` settles on onComplete or onError. */
class Recorder implements UpstreamHandler {
  status: number | undefined;
  headers: string[] | undefined;
  headerCalls = 0;
  readonly chunks: Buffer[] = [];
  completed = false;
  error: CodedError | undefined;
  bodySent = 0;
  /** Order of the callbacks, for "only once" and "nothing after the end" checks. */
  readonly events: string[] = [];
  upstream: UpstreamController | undefined;
  resume: (() => void) | undefined;
  abort: ((reason?: Error) => void) | undefined;
  settledAt = 0;
  /** What onData returns (the call number starts at 1). */
  dataResult: (chunk: Buffer, call: number) => boolean = () => true;
  readonly done: Promise<void>;
  #settle!: () => void;

  constructor() {
    this.done = new Promise((resolve) => {
      this.#settle = resolve;
    });
  }

  get body(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }

  get bytes(): number {
    return this.chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  }

  /** `done`, or a rejection when the call neither completes nor fails in time. */
  settled(ms = EVENT_MS): Promise<void> {
    return Promise.race([this.done, sleep(ms).then(() => Promise.reject(new Error('the call neither completed nor failed in time')))]);
  }

  onConnect(upstream: UpstreamController): void {
    this.events.push('connect');
    this.upstream = upstream;
    this.abort = (reason) => upstream.abort(reason);
    this.resume = () => upstream.resume();
  }

  onHeaders(status: number, headers: string[]): boolean {
    this.events.push('headers');
    this.headerCalls++;
    this.status = status;
    this.headers = headers;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.events.push('data');
    this.chunks.push(chunk);
    return this.dataResult(chunk, this.chunks.length);
  }

  onComplete(): void {
    this.events.push('complete');
    this.completed = true;
    this.settledAt = performance.now();
    this.#settle();
  }

  onError(err: Error): void {
    this.events.push('error');
    this.error = err;
    this.settledAt = performance.now();
    this.#settle();
  }

  onBodySent(bytes: number): void {
    this.bodySent += bytes;
  }

  /** Set by onUpgrade: the socket the client let go of, and the bytes read past the 101 head. */
  upgraded: { headers: string[]; socket: Socket; head: Buffer } | undefined;

  onUpgrade(headers: string[], socket: Socket, head: Buffer): void {
    this.events.push('upgrade');
    this.upgraded = { headers, socket, head };
    this.settledAt = performance.now();
    this.#settle();
  }
}

/** Dispatches `req` and waits for its outcome. */
async function call(upstream: UpstreamPool, req: UpstreamRequest): Promise<Recorder> {
  const recorder = new Recorder();
  upstream.dispatch(req, recorder);
  await recorder.settled();
  return recorder;
}

const noEventsAfterEnd = (t: Test, recorder: Recorder): void => {
  const ends = recorder.events.filter((e) => e === 'complete' || e === 'error');
  t.equal(ends.length, 1, 'exactly one of onComplete / onError');
  t.equal(recorder.events.at(-1), ends[0], 'nothing reported after it');
};

// ---------------------------------------------------------------------------------------------
// Tests.

t.test('sequential GETs reuse one keep-alive connection; the request head is written exactly', async (t) => {
  const server = await backend(t, answering(() => OK));
  const upstream = pool(t, server.origin);
  const headers = ['Host', 'backend.test', 'Accept', '*/*', 'X-Trace', 'a b'];
  const first = await call(upstream, request('GET', '/path?q=1', headers));
  t.equal(first.status, 200);
  t.same(first.headers, ['content-length', '2']);
  t.equal(first.body, 'ok');
  t.ok(first.completed);
  noEventsAfterEnd(t, first);
  t.same(upstream.connections, { open: 1, idle: 1, pending: 0 }, 'idle after the first call');
  const second = await call(upstream, request('GET', '/other', headers));
  t.equal(second.body, 'ok');
  t.equal(server.conns.length, 1, 'the backend saw one connection');
  t.equal(
    server.conns[0]!.text,
    'GET /path?q=1 HTTP/1.1\r\nHost: backend.test\r\nAccept: */*\r\nX-Trace: a b\r\n\r\n' + 'GET /other HTTP/1.1\r\nHost: backend.test\r\nAccept: */*\r\nX-Trace: a b\r\n\r\n',
    'exact bytes, headers in order with their case',
  );
  t.same(upstream.connections, { open: 1, idle: 1, pending: 0 });
  t.equal(first.bodySent + second.bodySent, 0, 'no body, no onBodySent bytes');
});

t.test('Host is added from the origin when absent, never duplicated when present', async (t) => {
  const server = await backend(t, answering(() => OK));
  const upstream = pool(t, server.origin);
  await call(upstream, request('GET', '/a', ['accept', 'x']));
  await call(upstream, request('GET', '/b', ['HOST', 'client.example', 'accept', 'y']));
  t.equal(
    server.conns[0]!.text,
    `GET /a HTTP/1.1\r\naccept: x\r\nhost: 127.0.0.1:${server.port}\r\n\r\n` + 'GET /b HTTP/1.1\r\nHOST: client.example\r\naccept: y\r\n\r\n',
  );
  t.equal(server.conns[0]!.text.match(/^host:/gim)?.length, 2, 'one Host per request');
});

t.test('a body without a length is sent chunked; onBodySent counts payload bytes only', async (t) => {
  const server = await backend(t, (conn) => {
    if (conn.text.endsWith('0\r\n\r\n')) conn.socket.write(OK);
  });
  const upstream = pool(t, server.origin);
  const body = new PassThrough();
  const recorder = new Recorder();
  upstream.dispatch(request('POST', '/upload', ['x-a', '1'], body, -1), recorder);
  body.write('hello');
  await server.until(() => server.conns[0]?.text.endsWith('5\r\nhello\r\n') === true, 'the first chunk');
  const big = 'abcdefghijklmnopqrstuvwxyz'; // 26 bytes: 0x1a
  body.write(big);
  await sleep(10);
  body.end('!');
  await recorder.settled();
  t.equal(recorder.status, 200);
  t.equal(
    server.conns[0]!.text,
    `POST /upload HTTP/1.1\r\nx-a: 1\r\nhost: 127.0.0.1:${server.port}\r\ntransfer-encoding: chunked\r\n\r\n` + `5\r\nhello\r\n1a\r\n${big}\r\n1\r\n!\r\n0\r\n\r\n`,
  );
  t.equal(recorder.bodySent, 5 + 26 + 1, 'payload bytes, without the framing');
  t.same(upstream.connections, { open: 1, idle: 1, pending: 0 }, 'whole body sent and answered: reusable');
});

t.test('a body with a Content-Length is forwarded as it is', async (t) => {
  const server = await backend(t, (conn) => {
    if (conn.text.endsWith('hello world')) conn.socket.write(OK);
  });
  const upstream = pool(t, server.origin);
  const body = new PassThrough();
  const recorder = new Recorder();
  upstream.dispatch(request('PUT', '/doc', ['content-length', '11'], body, 11), recorder);
  body.write('hello ');
  await server.until(() => server.conns[0]?.text.endsWith('hello ') === true, 'the first piece');
  body.end('world');
  await recorder.settled();
  t.equal(recorder.body, 'ok');
  t.equal(server.conns[0]!.text, `PUT /doc HTTP/1.1\r\ncontent-length: 11\r\nhost: 127.0.0.1:${server.port}\r\n\r\nhello world`);
  t.notMatch(server.conns[0]!.text, /transfer-encoding/i, 'not chunked');
  t.equal(recorder.bodySent, 11);
  t.same(upstream.connections, { open: 1, idle: 1, pending: 0 });
});

t.test('the request head waits for the first body byte', async (t) => {
  const server = await backend(t, (conn) => {
    if (conn.text.endsWith('\r\n\r\nhello')) conn.socket.write(OK);
  });
  const upstream = pool(t, server.origin);
  const body = new PassThrough();
  const recorder = new Recorder();
  upstream.dispatch(request('POST', '/late', ['content-length', '5'], body, 5), recorder);
  await server.until(() => server.conns.length === 1, 'the connection');
  await sleep(100);
  t.equal(server.conns[0]!.bytes.length, 0, 'nothing written while the body has no byte yet');
  body.end('hello');
  await recorder.settled();
  t.equal(server.conns[0]!.text, `POST /late HTTP/1.1\r\ncontent-length: 5\r\nhost: 127.0.0.1:${server.port}\r\n\r\nhello`);
  t.equal(recorder.status, 200);
});

t.test('HEAD: a Content-Length without a body completes, and the connection is reused', async (t) => {
  const server = await backend(
    t,
    answering((line) => (line.startsWith('HEAD') ? 'HTTP/1.1 200 OK\r\ncontent-length: 100\r\ncontent-type: text/plain\r\n\r\n' : OK)),
  );
  const upstream = pool(t, server.origin);
  const head = await call(upstream, request('HEAD', '/file'));
  t.ok(head.completed);
  t.equal(head.status, 200);
  t.same(head.headers, ['content-length', '100', 'content-type', 'text/plain']);
  t.equal(head.chunks.length, 0, 'no body');
  t.same(upstream.connections, { open: 1, idle: 1, pending: 0 });
  const next = await call(upstream, request('GET', '/next'));
  t.equal(next.body, 'ok', 'the next response is read right');
  t.equal(server.conns.length, 1, 'same connection');
  t.same(server.requests, ['HEAD /file HTTP/1.1', 'GET /next HTTP/1.1']);
});

t.test('interim 100 and 103 responses are not reported', async (t) => {
  t.test('in the same write as the final response', async (t) => {
    const server = await backend(
      t,
      answering(() => 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'),
    );
    const upstream = pool(t, server.origin);
    const recorder = await call(upstream, request('GET', '/'));
    t.equal(recorder.headerCalls, 1);
    t.equal(recorder.status, 200);
    t.same(recorder.headers, ['content-length', '2'], 'the final head only');
    t.equal(recorder.body, 'ok');
    t.same(upstream.connections, { open: 1, idle: 1, pending: 0 }, 'still reusable');
  });
  t.test('in separate writes', async (t) => {
    const server = await backend(
      t,
      answering((_line, conn) => {
        conn.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
        setTimeout(() => conn.socket.write('HTTP/1.1 103 Early Hints\r\nlink: </a.js>\r\n\r\n'), 20);
        setTimeout(() => conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nyes'), 40);
        return undefined;
      }),
    );
    const upstream = pool(t, server.origin);
    const recorder = await call(upstream, request('GET', '/'));
    t.equal(recorder.headerCalls, 1);
    t.equal(recorder.status, 200);
    t.equal(recorder.body, 'yes');
    const again = await call(upstream, request('GET', '/'));
    t.equal(again.body, 'yes');
    t.equal(server.conns.length, 1);
  });
});

t.test('204 without a body completes; the connection is reused', async (t) => {
  const server = await backend(t, answering((line) => (line.includes('/empty') ? 'HTTP/1.1 204 No Content\r\nx-a: b\r\n\r\n' : OK)));
  const upstream = pool(t, server.origin);
  const recorder = await call(upstream, request('DELETE', '/empty'));
  t.equal(recorder.status, 204);
  t.ok(recorder.completed);
  t.equal(recorder.chunks.length, 0);
  const next = await call(upstream, request('GET', '/x'));
  t.equal(next.body, 'ok');
  t.equal(server.conns.length, 1);
});

t.test('a body delimited by the end of the connection completes when the backend closes', async (t) => {
  const server = await backend(
    t,
    answering((_line, conn) => {
      conn.socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\npart one, ');
      setTimeout(() => conn.socket.end('part two'), 30);
      return undefined;
    }),
  );
  const upstream = pool(t, server.origin);
  const recorder = await call(upstream, request('GET', '/stream'));
  t.ok(recorder.completed, 'completed, not failed');
  t.equal(recorder.error, undefined);
  t.equal(recorder.body, 'part one, part two');
  t.same(upstream.connections, { open: 0, idle: 0, pending: 0 }, 'not reusable');
});

t.test('a response with Connection: close is not reused', async (t) => {
  const server = await backend(t, answering(() => 'HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok'));
  const upstream = pool(t, server.origin);
  const first = await call(upstream, request('GET', '/1'));
  t.equal(first.body, 'ok');
  t.same(upstream.connections, { open: 0, idle: 0, pending: 0 });
  await server.until(() => server.conns[0]!.closed, 'the client to close the first connection');
  const second = await call(upstream, request('GET', '/2'));
  t.equal(second.body, 'ok');
  t.equal(server.conns.length, 2, 'a second connection');
  t.same(server.conns.map((conn) => conn.requests), [['GET /1 HTTP/1.1'], ['GET /2 HTTP/1.1']]);
});

t.test('bytes from the backend while idle close the connection; the next call opens a new one', async (t) => {
  // A whole response, and the start of one (which no head-complete event would reveal).
  for (const unsolicited of ['HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nforged', 'HTTP/1.1 404 Not Found\r\nx-forged: ']) {
    t.test(JSON.stringify(unsolicited.slice(0, 22)), async (t) => {
      const server = await backend(t, answering(() => OK));
      const upstream = pool(t, server.origin);
      await call(upstream, request('GET', '/1'));
      t.same(upstream.connections, { open: 1, idle: 1, pending: 0 });
      server.conns[0]!.socket.write(unsolicited);
      await server.until(() => server.conns[0]!.closed, 'the client to drop the idle connection');
      t.same(upstream.connections, { open: 0, idle: 0, pending: 0 });
      const next = await call(upstream, request('GET', '/2'));
      t.equal(next.status, 200);
      t.equal(next.body, 'ok', 'the real answer, not the unsolicited one');
      t.equal(server.conns.length, 2);
      t.same(server.conns[1]!.requests, ['GET /2 HTTP/1.1']);
    });
  }
});

t.test('a second, unsolicited response in the same write: the first completes, the connection is dropped', async (t) => {
  const extras = {
    'with a body': 'HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecond',
    'without a body': 'HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n',
  };
  for (const [name, extra] of Object.entries(extras)) {
    t.test(name, async (t) => {
      const server = await backend(t, answering((line) => (line.startsWith('GET /1 ') ? `HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst${extra}` : OK)));
      const upstream = pool(t, server.origin);
      const first = await call(upstream, request('GET', '/1'));
      t.ok(first.completed);
      t.equal(first.headerCalls, 1);
      t.equal(first.body, 'first', 'only its own response');
      noEventsAfterEnd(t, first);
      await server.until(() => server.conns[0]!.closed, 'the client to drop the connection');
      t.same(upstream.connections, { open: 0, idle: 0, pending: 0 });
      const second = await call(upstream, request('GET', '/2'));
      t.equal(second.body, 'ok', 'the next call does not get the extra response');
      t.equal(server.conns.length, 2);
    });
  }
});

t.test('bytes of a partial head after a complete response (same write) do not reach the next call', async (t) => {
  // The extra bytes are the start of a head: llhttp takes them without a head-complete event, so
  // only the parser reset at the start of each call keeps the next response from being read as
  // their continuation.
  let served = 0;
  const server = await backend(
    t,
    answering(() => (served++ === 0 ? 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\nx-forged: ' : OK)),
  );
  const upstream = pool(t, server.origin);
  const first = await call(upstream, request('GET', '/1'));
  t.equal(first.body, 'ok');
  const second = await call(upstream, request('GET', '/2'));
  t.equal(second.status, 200, 'the second call gets its own response');
  t.same(second.headers, ['content-length', '2'], 'no header of the stray bytes');
  t.equal(second.body, 'ok');
});

t.test('no response within responseTimeoutMs: UPSTREAM_RESPONSE_TIMEOUT', async (t) => {
  const server = await backend(t);
  const upstream = pool(t, server.origin, { responseTimeoutMs: 200 });
  const started = performance.now();
  const recorder = new Recorder();
  upstream.dispatch(request('GET', '/slow'), recorder);
  await recorder.settled();
  const elapsed = recorder.settledAt - started;
  t.equal(recorder.error?.code, 'UPSTREAM_RESPONSE_TIMEOUT');
  t.equal(recorder.headerCalls, 0);
  t.ok(elapsed >= 199 && elapsed < 700, `failed after ${Math.round(elapsed)} ms (200 ms + one 100 ms tick, some slack)`);
  await server.until(() => server.conns[0]!.closed, 'the client to close the connection');
  t.same(upstream.connections, { open: 0, idle: 0, pending: 0 });
});

t.test('connection refused: every queued call fails, none hangs', async (t) => {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const upstream = pool(t, `http://127.0.0.1:${port}`, { maxConnections: 1 });
  const single = await call(upstream, request('GET', '/'));
  t.equal(single.error?.code, 'ECONNREFUSED');
  const recorders = [new Recorder(), new Recorder(), new Recorder()];
  for (const recorder of recorders) upstream.dispatch(request('GET', '/'), recorder);
  t.same(upstream.connections, { open: 1, idle: 0, pending: 3 });
  await Promise.all(recorders.map((recorder) => recorder.settled()));
  t.same(
    recorders.map((recorder) => recorder.error?.code),
    ['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED'],
  );
  for (const recorder of recorders) t.equal(recorder.headerCalls, 0);
  t.same(upstream.connections, { open: 0, idle: 0, pending: 0 });
});

t.test('maxConnections 1: concurrent calls queue and run in order on one connection', async (t) => {
  let releaseFirst: (() => void) | undefined;
  const server = await backend(
    t,
    answering((line, conn) => {
      if (!line.includes('/1 ')) return `HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n${line.split(' ')[1]!.slice(1)}!`;
      releaseFirst = () => conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n1!');
      return undefined;
    }),
  );
  const upstream = pool(t, server.origin, { maxConnections: 1 });
  const order: string[] = [];
  const recorders = ['/1', '/2', '/3'].map((path) => {
    const recorder = new Recorder();
    const complete = recorder.onComplete.bind(recorder);
    recorder.onComplete = () => {
      order.push(path);
      complete();
    };
    upstream.dispatch(request('GET', path), recorder);
    return recorder;
  });
  await server.until(() => server.requests.length === 1, 'the first request');
  t.same(upstream.connections, { open: 1, idle: 0, pending: 2 }, 'two calls wait while the first runs');
  await sleep(50);
  t.equal(server.requests.length, 1, 'no second request while the first is unanswered (no pipelining)');
  releaseFirst!();
  await Promise.all(recorders.map((recorder) => recorder.settled()));
  t.same(order, ['/1', '/2', '/3']);
  t.same(recorders.map((recorder) => recorder.body), ['1!', '2!', '3!']);
  t.equal(server.conns.length, 1);
  t.same(server.requests, ['GET /1 HTTP/1.1', 'GET /2 HTTP/1.1', 'GET /3 HTTP/1.1']);
  t.same(upstream.connections, { open: 1, idle: 1, pending: 0 });
});

t.test('abort', async (t) => {
  t.test('while queued: fails with the reason, the backend never sees it', async (t) => {
    let releaseFirst: (() => void) | undefined;
    const server = await backend(
      t,
      answering((line, conn) => {
        if (!line.includes('/first')) return OK;
        releaseFirst = () => conn.socket.write(OK);
        return undefined;
      }),
    );
    const upstream = pool(t, server.origin, { maxConnections: 1 });
    const first = new Recorder();
    upstream.dispatch(request('GET', '/first'), first);
    const queued = new Recorder();
    upstream.dispatch(request('GET', '/queued'), queued);
    await server.until(() => server.requests.length === 1, 'the first request');
    t.equal(upstream.connections.pending, 1);
    const reason = new Error('client went away');
    queued.abort!(reason);
    t.equal(queued.error, reason, 'onError at once, with the reason itself');
    t.equal(upstream.connections.pending, 0, 'left the queue');
    queued.abort!(new Error('again')); // a second abort is a no-op
    noEventsAfterEnd(t, queued);
    releaseFirst!();
    await first.settled();
    t.ok(first.completed);
    const after = await call(upstream, request('GET', '/after'));
    t.ok(after.completed);
    t.same(server.requests, ['GET /first HTTP/1.1', 'GET /after HTTP/1.1'], 'the aborted call was never sent');
    t.equal(server.conns.length, 1);
  });

  t.test('while running: fails with the reason, the connection is closed, a later call gets a new one', async (t) => {
    const server = await backend(t, answering((line) => (line.includes('/hang') ? undefined : OK)));
    const upstream = pool(t, server.origin, { maxConnections: 1 });
    const running = new Recorder();
    upstream.dispatch(request('GET', '/hang'), running);
    await server.until(() => server.requests.length === 1, 'the request');
    const reason = new Error('deadline');
    running.abort!(reason);
    t.equal(running.error, reason);
    await server.until(() => server.conns[0]!.closed, 'the connection to close');
    t.same(upstream.connections, { open: 0, idle: 0, pending: 0 });
    const later = await call(upstream, request('GET', '/later'));
    t.equal(later.body, 'ok');
    t.equal(server.conns.length, 2, 'on a new connection');
  });

  t.test('without a reason: UPSTREAM_ABORTED; aborting inside onConnect sends nothing', async (t) => {
    const server = await backend(t, answering(() => undefined));
    const upstream = pool(t, server.origin);
    const running = new Recorder();
    upstream.dispatch(request('GET', '/x'), running);
    await server.until(() => server.requests.length === 1, 'the request');
    running.abort!();
    t.equal(running.error?.code, 'UPSTREAM_ABORTED');
    const early = new Recorder();
    const connect = early.onConnect.bind(early);
    early.onConnect = (upstream) => {
      connect(upstream);
      upstream.abort();
    };
    upstream.dispatch(request('GET', '/never'), early);
    t.equal(early.error?.code, 'UPSTREAM_ABORTED');
    t.same(upstream.connections, { open: 0, idle: 0, pending: 0 }, 'no connection opened for it');
  });
});

t.test('close(): the running call finishes, idle connections close, new calls fail', async (t) => {
  let releaseSlow: (() => void) | undefined;
  const server = await backend(
    t,
    answering((line, conn) => {
      if (!line.includes('/slow')) return OK;
      releaseSlow = () => conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ndone');
      return undefined;
    }),
  );
  const upstream = pool(t, server.origin, { maxConnections: 2 });
  const fast = new Recorder();
  const slow = new Recorder();
  upstream.dispatch(request('GET', '/fast'), fast);
  upstream.dispatch(request('GET', '/slow'), slow);
  await fast.settled();
  await server.until(() => releaseSlow !== undefined, 'the slow request');
  t.same(upstream.connections, { open: 2, idle: 1, pending: 0 });
  const idleConn = server.conns.find((conn) => conn.requests.includes('GET /fast HTTP/1.1'))!;
  const busyConn = server.conns.find((conn) => conn.requests.includes('GET /slow HTTP/1.1'))!;

  let closed = false;
  const closing = upstream.close().then(() => {
    closed = true;
  });
  await server.until(() => idleConn.closed, 'the idle connection to close');
  t.notOk(busyConn.closed, 'the busy one stays open');
  const late = new Recorder();
  upstream.dispatch(request('GET', '/late'), late);
  t.equal(late.error?.code, 'UPSTREAM_POOL_CLOSED', 'new calls fail at once');
  await sleep(20);
  t.notOk(closed, 'close() waits for the running call');
  t.notOk(slow.completed);

  releaseSlow!();
  await slow.settled();
  t.ok(slow.completed, 'the running call completed');
  t.equal(slow.body, 'done');
  await Promise.race([closing, sleep(EVENT_MS)]);
  t.ok(closed, 'close() resolved once the call ended');
  t.same(upstream.connections, { open: 0, idle: 0, pending: 0 });
  await server.until(() => busyConn.closed, 'the last connection to close');
  t.notOk(server.requests.includes('GET /late HTTP/1.1'));
});

t.test('close() on an idle pool resolves at once', async (t) => {
  const server = await backend(t, answering(() => OK));
  const upstream = pool(t, server.origin);
  await call(upstream, request('GET', '/'));
  await Promise.race([upstream.close(), sleep(EVENT_MS).then(() => Promise.reject(new Error('close() did not resolve')))]);
  t.same(upstream.connections, { open: 0, idle: 0, pending: 0 });
  await server.until(() => server.conns[0]!.closed, 'the connection to close');
});

t.test('close() called twice: both promises resolve', async (t) => {
  let release: (() => void) | undefined;
  const server = await backend(
    t,
    answering((_line, conn) => {
      release = () => conn.socket.write(OK);
      return undefined;
    }),
  );
  const upstream = pool(t, server.origin);
  const running = new Recorder();
  upstream.dispatch(request('GET', '/'), running);
  await server.until(() => release !== undefined, 'the request');
  const resolved: string[] = [];
  const first = upstream.close().then(() => resolved.push('first'));
  const second = upstream.close().then(() => resolved.push('second'));
  release!();
  await running.settled();
  await Promise.race([Promise.all([first, second]), sleep(300)]);
  t.ok(resolved.includes('second'), 'the last close() resolves');
  t.ok(resolved.includes('first'), 'the first close() resolves');
});

t.test('destroy(): a running call fails with UPSTREAM_POOL_DESTROYED, a queued one with UPSTREAM_POOL_CLOSED', async (t) => {
  const server = await backend(t, answering(() => undefined));
  const upstream = pool(t, server.origin, { maxConnections: 1 });
  const running = new Recorder();
  const queued = new Recorder();
  upstream.dispatch(request('GET', '/running'), running);
  upstream.dispatch(request('GET', '/queued'), queued);
  await server.until(() => server.requests.length === 1, 'the first request');
  upstream.destroy();
  t.equal(running.error?.code, 'UPSTREAM_POOL_DESTROYED');
  t.equal(queued.error?.code, 'UPSTREAM_POOL_CLOSED');
  t.same(upstream.connections, { open: 0, idle: 0, pending: 0 });
  await server.until(() => server.conns[0]!.closed, 'the connection to close');
  const late = new Recorder();
  upstream.dispatch(request('GET', '/late'), late);
  t.equal(late.error?.code, 'UPSTREAM_POOL_CLOSED');
  t.same(server.requests, ['GET /running HTTP/1.1']);
});

t.test('backpressure: onData returning false pauses the body until resume(); no response timeout meanwhile', async (t) => {
  const size = 4 * 1024 * 1024;
  const payload = Buffer.alloc(size);
  for (let i = 0; i < size; i++) payload[i] = i % 251;
  const server = await backend(
    t,
    answering((_line, conn) => {
      conn.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\n\r\n`);
      conn.socket.write(payload);
      return undefined;
    }),
  );
  const upstream = pool(t, server.origin, { responseTimeoutMs: 200 });
  const recorder = new Recorder();
  let firstData: () => void = () => {};
  const gotFirst = new Promise<void>((resolve) => {
    firstData = resolve;
  });
  recorder.dataResult = (_chunk, n) => {
    if (n === 1) firstData();
    return n !== 1;
  };
  upstream.dispatch(request('GET', '/big'), recorder);
  await Promise.race([gotFirst, sleep(EVENT_MS)]);
  t.equal(recorder.chunks.length, 1, 'one chunk');
  t.ok(recorder.bytes < size, 'only part of the body so far');
  await sleep(400); // two response timeouts: paused reading is not backend silence
  t.equal(recorder.chunks.length, 1, 'no onData while paused');
  t.equal(recorder.error, undefined, 'no response timeout while paused');
  t.notOk(recorder.completed);
  t.type(recorder.resume, 'function');
  recorder.resume!();
  await recorder.settled(3000);
  t.ok(recorder.completed);
  t.equal(recorder.bytes, size, 'every byte');
  t.ok(Buffer.concat(recorder.chunks).equals(payload), 'in order, unchanged');
  t.ok(recorder.chunks.length > 2, 'in several chunks');
  t.same(upstream.connections, { open: 1, idle: 1, pending: 0 });
});

t.test('onHeaders returning false pauses the body too', async (t) => {
  const size = 1024 * 1024;
  const server = await backend(
    t,
    answering((_line, conn) => {
      conn.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\n\r\n`);
      setTimeout(() => conn.socket.write(Buffer.alloc(size, 'z')), 20);
      return undefined;
    }),
  );
  const upstream = pool(t, server.origin);
  const recorder = new Recorder();
  const onHeaders = recorder.onHeaders.bind(recorder);
  recorder.onHeaders = (status, headers) => {
    onHeaders(status, headers);
    return false;
  };
  upstream.dispatch(request('GET', '/'), recorder);
  await server.until(() => server.requests.length === 1, 'the request');
  await sleep(150);
  t.equal(recorder.headerCalls, 1);
  t.equal(recorder.chunks.length, 0, 'no body before resume()');
  recorder.resume!();
  await recorder.settled();
  t.equal(recorder.bytes, size);
});

t.test('bad responses', async (t) => {
  const failing = async (t: Test, answer: string | ((conn: Conn) => void), method = 'GET'): Promise<{ recorder: Recorder; server: Backend; upstream: UpstreamPool }> => {
    const server = await backend(
      t,
      answering((_line, conn) => {
        if (typeof answer === 'string') return answer;
        answer(conn);
        return undefined;
      }),
    );
    const upstream = pool(t, server.origin);
    const recorder = await call(upstream, request(method, '/'));
    t.notOk(recorder.completed, 'not completed');
    noEventsAfterEnd(t, recorder);
    await server.until(() => server.conns[0]!.closed, 'the connection to close');
    t.same(upstream.connections, { open: 0, idle: 0, pending: 0 }, 'the connection is not kept');
    return { recorder, server, upstream };
  };

  t.test('101 Switching Protocols, never asked for', async (t) => {
    const { recorder } = await failing(t, 'HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n');
    t.equal(recorder.error?.code, 'UPSTREAM_BAD_RESPONSE');
    t.equal(recorder.headerCalls, 0);
  });

  t.test('a head larger than 16 KiB', async (t) => {
    const { recorder } = await failing(t, `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(17 * 1024)}\r\ncontent-length: 0\r\n\r\n`);
    t.equal(recorder.error?.code, 'UPSTREAM_BAD_RESPONSE');
    t.equal(recorder.headerCalls, 0);
  });

  t.test('a head just under 16 KiB is fine', async (t) => {
    const server = await backend(t, answering(() => `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(15 * 1024)}\r\ncontent-length: 2\r\n\r\nok`));
    const upstream = pool(t, server.origin);
    const recorder = await call(upstream, request('GET', '/'));
    t.ok(recorder.completed);
    t.equal(recorder.headers?.[1]?.length, 15 * 1024);
  });

  t.test('not HTTP at all', async (t) => {
    const { recorder } = await failing(t, 'this is not http\r\n\r\n');
    t.match(recorder.error?.code, /^HPE_/);
  });

  t.test('closed mid-body', async (t) => {
    const { recorder } = await failing(t, (conn) => {
      conn.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n${'x'.repeat(100)}`);
      setTimeout(() => conn.socket.end(), 20);
    });
    t.equal(recorder.headerCalls, 1, 'the head was reported');
    t.equal(recorder.bytes, 100);
    t.same(recorder.events.slice(1, 2), ['headers'], 'onHeaders came before the error');
    t.ok(recorder.error, 'failed');
    t.equal(recorder.error?.code, 'UPSTREAM_CLOSED', 'the documented code for a response cut short');
  });

  t.test('closed in the middle of the head', async (t) => {
    const { recorder } = await failing(t, (conn) => {
      conn.socket.write('HTTP/1.1 200 OK\r\ncontent-le');
      setTimeout(() => conn.socket.end(), 20);
    });
    t.equal(recorder.headerCalls, 0);
    t.ok(recorder.error, 'failed');
    t.equal(recorder.error?.code, 'UPSTREAM_CLOSED', 'the documented code for a response cut short');
  });

  t.test('closed without any response', async (t) => {
    const { recorder } = await failing(t, (conn) => {
      conn.socket.end();
    });
    t.equal(recorder.error?.code, 'UPSTREAM_CLOSED');
    t.equal(recorder.headerCalls, 0);
  });
});

t.test('an early response while the body is still streaming: completes, the connection is not reused', async (t) => {
  const server = await backend(t, (conn) => {
    if (conn.index === 0 && conn.requests.length === 0 && conn.text.includes('\r\n\r\n')) {
      conn.requests.push(conn.text.slice(0, conn.text.indexOf('\r\n')));
      conn.socket.write('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 8\r\n\r\ntoo big!');
    }
    if (conn.index > 0) answering(() => OK)(conn, server);
  });
  const upstream = pool(t, server.origin);
  const body = new PassThrough();
  const recorder = new Recorder();
  upstream.dispatch(request('POST', '/upload', ['content-length', '1000000'], body, 1_000_000), recorder);
  body.write(Buffer.alloc(1000, 'a'));
  await recorder.settled();
  t.ok(recorder.completed);
  t.equal(recorder.status, 413);
  t.equal(recorder.body, 'too big!');
  t.equal(recorder.bodySent, 1000);
  body.write(Buffer.alloc(1000, 'b'));
  body.end();
  await server.until(() => server.conns[0]!.closed, 'the connection to close');
  t.notMatch(server.conns[0]!.text, /b/, 'nothing of the body after the response');
  const next = await call(upstream, request('GET', '/next'));
  t.equal(next.body, 'ok');
  t.equal(server.conns.length, 2, 'a new connection');
});

t.test('a request body that errors fails the call and closes the connection', async (t) => {
  const server = await backend(t);
  const upstream = pool(t, server.origin);
  const body = new PassThrough();
  const recorder = new Recorder();
  upstream.dispatch(request('POST', '/', ['content-length', '10'], body, 10), recorder);
  body.write('abc');
  await server.until(() => server.conns[0]?.text.endsWith('abc') === true, 'the first bytes');
  const reason = new Error('client reset');
  body.destroy(reason);
  await recorder.settled();
  t.equal(recorder.error, reason);
  await server.until(() => server.conns[0]!.closed, 'the connection to close');
  t.same(upstream.connections, { open: 0, idle: 0, pending: 0 });
});

t.test('more than 32 response headers all reach onHeaders, in order', async (t) => {
  const expected: string[] = [];
  for (let i = 0; i < 40; i++) expected.push(`x-h-${i}`, `value ${i}`);
  let head = 'HTTP/1.1 200 OK\r\n';
  for (let i = 0; i < expected.length; i += 2) head += `${expected[i]}: ${expected[i + 1]}\r\n`;
  const server = await backend(t, answering(() => `${head}content-length: 2\r\n\r\nok`));
  const upstream = pool(t, server.origin);
  const first = await call(upstream, request('GET', '/'));
  t.same(first.headers, [...expected, 'content-length', '2']);
  t.equal(first.body, 'ok');
  const second = await call(upstream, request('GET', '/'));
  t.same(second.headers, [...expected, 'content-length', '2'], 'nothing left over from the first response');
});

t.test('a response head split across many writes, and chunked bodies, are parsed', async (t) => {
  const server = await backend(
    t,
    answering((_line, conn) => {
      const pieces = ['HTTP/1.1 2', '00 OK\r\ntransfer-enc', 'oding: chunked\r\nx-a', ': 1\r\n\r', '\n4\r\nwi', 'ki\r\n5\r\npedia\r\n0\r\n\r\n'];
      pieces.forEach((piece, i) => setTimeout(() => conn.socket.write(piece), i * 10));
      return undefined;
    }),
  );
  const upstream = pool(t, server.origin);
  const recorder = await call(upstream, request('GET', '/'));
  t.equal(recorder.status, 200);
  t.same(recorder.headers, ['transfer-encoding', 'chunked', 'x-a', '1']);
  t.equal(recorder.body, 'wikipedia', 'de-chunked');
  t.same(upstream.connections, { open: 1, idle: 1, pending: 0 });
});

t.test('an idle connection is closed after keepAliveMs', async (t) => {
  const server = await backend(t, answering(() => OK));
  const upstream = pool(t, server.origin, { keepAliveMs: 200 });
  await call(upstream, request('GET', '/'));
  t.same(upstream.connections, { open: 1, idle: 1, pending: 0 });
  const idleSince = performance.now();
  await server.until(() => server.conns[0]!.closed, 'the idle connection to close');
  const idleFor = performance.now() - idleSince;
  t.ok(idleFor >= 150, `closed after ${Math.round(idleFor)} ms idle`);
  t.same(upstream.connections, { open: 0, idle: 0, pending: 0 });
  const next = await call(upstream, request('GET', '/'));
  t.equal(next.body, 'ok');
  t.equal(server.conns.length, 2);
});

t.test('a finished call\'s controller cannot resume the next call on the same connection', async (t) => {
  const size = 1024 * 1024;
  let served = 0;
  const server = await backend(
    t,
    answering((_line, conn) => {
      if (served++ === 0) return OK;
      conn.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\n\r\n`);
      setTimeout(() => conn.socket.write(Buffer.alloc(size, 'y')), 20);
      return undefined;
    }),
  );
  const upstream = pool(t, server.origin);
  const first = await call(upstream, request('GET', '/first'));
  const second = new Recorder();
  second.dataResult = () => false;
  upstream.dispatch(request('GET', '/second'), second);
  await server.until(() => server.requests.length === 2, 'the second request');
  await sleep(150);
  const paused = second.chunks.length;
  t.ok(paused >= 1, 'the second call got its first chunk and paused');
  first.resume!();
  await sleep(150);
  t.equal(second.chunks.length, paused, 'the first call\'s resume() changed nothing');
  t.equal(server.conns.length, 1, 'both calls on one connection');
  second.dataResult = () => true;
  second.resume!();
  await second.settled();
  t.equal(second.bytes, size);
});

t.test('resume() from inside onData cancels that callback\'s pause', async (t) => {
  const size = 1024 * 1024;
  const server = await backend(
    t,
    answering((_line, conn) => {
      conn.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\n\r\n`);
      setTimeout(() => conn.socket.write(Buffer.alloc(size, 'r')), 20);
      return undefined;
    }),
  );
  const upstream = pool(t, server.origin, { responseTimeoutMs: 300 });
  const recorder = new Recorder();
  recorder.dataResult = () => {
    recorder.resume!();
    return false;
  };
  upstream.dispatch(request('GET', '/'), recorder);
  await recorder.settled();
  t.ok(recorder.completed, 'completed, not stuck paused');
  t.equal(recorder.bytes, size);
});

t.test('close(): a queued call still runs when the running one\'s connection closes', async (t) => {
  let releaseFirst: (() => void) | undefined;
  const server = await backend(
    t,
    answering((line, conn) => {
      if (line.includes('/first')) {
        releaseFirst = () => conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
        return undefined;
      }
      return OK;
    }),
  );
  const upstream = pool(t, server.origin, { maxConnections: 1 });
  const first = new Recorder();
  const queued = new Recorder();
  upstream.dispatch(request('GET', '/first'), first);
  upstream.dispatch(request('GET', '/queued'), queued);
  await server.until(() => releaseFirst !== undefined, 'the first request');
  const closed = upstream.close();
  releaseFirst!();
  await queued.settled();
  t.ok(first.completed);
  t.ok(queued.completed, 'the queued call ran');
  t.equal(queued.body, 'ok');
  t.equal(server.conns.length, 2, 'on a new connection');
  await Promise.race([closed, sleep(EVENT_MS).then(() => Promise.reject(new Error('close() did not resolve')))]);
  t.same(upstream.connections, { open: 0, idle: 0, pending: 0 });
});

t.test('keep-alive race: a reused connection closed before any answer replays an idempotent bodyless call once', async (t) => {
  // Each connection answers its first request and closes on its second without a byte: what a
  // backend's idle timeout does to a request that crosses it on the wire.
  const closeOnSecond = answering((line, conn) => {
    if (conn.requests.length === 1) return OK;
    conn.socket.destroy();
    return undefined;
  });

  t.test('GET is sent again on a new connection and succeeds', async (t) => {
    const server = await backend(t, closeOnSecond);
    const upstream = pool(t, server.origin, { maxConnections: 1 });
    t.equal((await call(upstream, request('GET', '/first'))).body, 'ok');
    const second = await call(upstream, request('GET', '/second'));
    t.equal(second.error, undefined, 'no error reached the handler');
    t.equal(second.body, 'ok');
    t.equal(server.conns.length, 2, 'replayed on a second connection');
    t.same(server.requests, ['GET /first HTTP/1.1', 'GET /second HTTP/1.1', 'GET /second HTTP/1.1']);
  });

  t.test('a POST with a body is not replayed', async (t) => {
    const server = await backend(t, (conn) => {
      if (!conn.text.includes('\r\n\r\n')) return;
      if (conn.requests.length === 0) {
        conn.requests.push('first');
        conn.socket.write(OK);
        conn.cursor = conn.text.length;
        return;
      }
      if (conn.text.length > conn.cursor) conn.socket.destroy();
    });
    const upstream = pool(t, server.origin, { maxConnections: 1 });
    t.equal((await call(upstream, request('GET', '/first'))).body, 'ok');
    const body = new PassThrough();
    const post = new Recorder();
    upstream.dispatch(request('POST', '/submit', ['content-length', '5'], body, 5), post);
    body.end('hello');
    await post.settled();
    t.equal(post.error?.code, 'UPSTREAM_CLOSED', 'the error reaches the handler');
    t.equal(server.conns.length, 1, 'nothing sent again');
  });

  t.test('a failure on a fresh connection is not replayed', async (t) => {
    const server = await backend(t, answering((_line, conn) => void conn.socket.destroy()));
    const upstream = pool(t, server.origin, { maxConnections: 1 });
    const first = await call(upstream, request('GET', '/fresh'));
    t.equal(first.error?.code, 'UPSTREAM_CLOSED', 'a new connection that closes is an answer, not a race');
    t.equal(server.conns.length, 1);
  });
});

t.test('connect timeout: a backend that accepts TCP but never completes TLS', async (t) => {
  const server = await backend(t); // accepts, records, never answers
  const upstream = pool(t, `https://127.0.0.1:${server.port}`, { connectTimeoutMs: 200 });
  const started = performance.now();
  const recorder = await call(upstream, request('GET', '/'));
  const took = performance.now() - started;
  t.equal(recorder.error?.code, 'UPSTREAM_CONNECT_TIMEOUT');
  t.ok(took >= 190 && took < 1000, `within the timeout and one wheel tick (${Math.round(took)} ms)`);
  await server.until(() => server.conns[0]?.closed === true, 'the half-open connection to be closed');
  t.ok(server.conns[0]!.bytes.length > 0, 'a TLS ClientHello was sent');
  t.same(upstream.connections, { open: 0, idle: 0, pending: 0 });
});

t.test('upgrade requests', async (t) => {
  const upgradeRequest = (path: string): UpstreamRequest => ({ ...request('GET', path, ['sec-websocket-key', 'k']), upgrade: 'websocket' });
  const SWITCHED = 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: a\r\n\r\n';

  t.test('a 101 hands the socket over, with the bytes past the head, and the pool lets go of it', async (t) => {
    const server = await backend(t, answering(() => Buffer.from(`${SWITCHED}\x81\x02hi`, 'latin1')));
    const upstream = pool(t, server.origin);
    const recorder = await call(upstream, upgradeRequest('/ws'));
    t.same(recorder.events, ['connect', 'upgrade'], 'only onUpgrade, no onHeaders or onComplete');
    t.match(server.conns[0]!.text, /^GET \/ws HTTP\/1\.1\r\n[^]*connection: Upgrade\r\nupgrade: websocket\r\n\r\n$/, 'Connection: Upgrade and Upgrade are sent');
    const { socket, head, headers } = recorder.upgraded!;
    t.same(headers, ['upgrade', 'websocket', 'connection', 'Upgrade', 'sec-websocket-accept', 'a']);
    t.equal(head.toString('latin1'), '\x81\x02hi', 'the first frame is not lost');
    t.same(upstream.connections, { open: 0, idle: 0, pending: 0 }, 'the pool forgot the connection');
    t.teardown(() => socket.destroy());
    // The socket is a plain byte stream now: what the backend sends next arrives as it is.
    const more = once(socket, 'data');
    server.conns[0]!.socket.write('after');
    t.equal(String((await more)[0]), 'after');
    socket.write('to backend');
    await server.until(() => server.conns[0]!.text.endsWith('to backend'), 'bytes written on the handed-over socket');
    t.notOk(server.conns[0]!.closed, 'the connection stays open');
  });

  t.test('a 101 split across reads, with nothing behind it', async (t) => {
    const server = await backend(
      t,
      answering((_line, conn) => {
        conn.socket.write(SWITCHED.slice(0, 20));
        setTimeout(() => conn.socket.write(SWITCHED.slice(20)), 50);
        return undefined;
      }),
    );
    const recorder = await call(pool(t, server.origin), upgradeRequest('/'));
    t.ok(recorder.upgraded !== undefined, 'upgraded');
    t.equal(recorder.upgraded!.head.length, 0);
    recorder.upgraded!.socket.destroy();
  });

  t.test('a declined upgrade is an ordinary response, and its connection is not reused', async (t) => {
    const server = await backend(t, answering(() => 'HTTP/1.1 401 Unauthorized\r\ncontent-length: 4\r\n\r\nnope'));
    const upstream = pool(t, server.origin);
    const recorder = await call(upstream, upgradeRequest('/'));
    t.equal(recorder.status, 401);
    t.equal(recorder.body, 'nope');
    t.ok(recorder.completed);
    await server.until(() => server.conns[0]!.closed, 'the connection to close');
    t.same(upstream.connections, { open: 0, idle: 0, pending: 0 });
  });

  t.test('a malformed 101 head fails the call and reports no head', async (t) => {
    const server = await backend(t, answering(() => 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nBad Header Line\r\n\r\n'));
    const upstream = pool(t, server.origin);
    const recorder = await call(upstream, upgradeRequest('/'));
    t.equal(recorder.upgraded, undefined);
    t.equal(recorder.headerCalls, 0);
    t.match(recorder.error, { code: 'HPE_INVALID_HEADER_TOKEN' });
    await server.until(() => server.conns[0]!.closed, 'the connection to close');
  });
});
