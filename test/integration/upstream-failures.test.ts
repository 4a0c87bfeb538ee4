/**
 * Upstream failures as a client sees them through a real VeloFlux, and what the backends
 * received: refused connections, garbage instead of HTTP, response and whole-request timeouts,
 * backends dying mid-response, and which requests are retried on another backend.
 */
import t from 'tap';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { request } from 'undici';
import { startUpstream, type UpstreamHandler } from '../helpers/upstream.js';
import { startVeloflux } from '../helpers/veloflux.js';

/** A TCP server that answers every connection with `reply` instead of HTTP (then closes when `close`). */
async function startGarbage(reply: string, close: boolean): Promise<{ url: string; connections: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const state = {
    url: '',
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.once('data', () => (close ? socket.end(reply) : socket.write(reply)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

const unavailable: UpstreamHandler = (req, res) => {
  req.resume();
  res.writeHead(503, { 'content-type': 'text/plain', 'x-from': 'sick' });
  res.end('sick backend');
};
const badGateway: UpstreamHandler = (req, res) => {
  req.resume();
  res.writeHead(502, { 'content-type': 'text/plain' });
  res.end('bad gateway from backend');
};
const silent: UpstreamHandler = (req) => {
  req.resume();
};
const drip: UpstreamHandler = (req, res) => {
  req.resume();
  res.writeHead(200, { 'content-length': '100', 'content-type': 'text/plain' });
  const timer = setInterval(() => res.write('x'), 200);
  res.on('close', () => clearInterval(timer));
};
const diesWithLength: UpstreamHandler = (req, res) => {
  req.resume();
  res.writeHead(200, { 'content-length': '1000' });
  res.write(Buffer.alloc(100, 97));
  setTimeout(() => res.socket?.destroy(), 50);
};
const diesChunked: UpstreamHandler = (req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.write('first part;');
  setTimeout(() => res.socket?.destroy(), 50);
};

// Ports below 1024 are never handed out for port 0, so no server of a test running beside this
// one can take them (a closed ephemeral port could be, and then answered instead of refusing).
const refusedPort = 1;
const refusedPort2 = 2;
const refused = `http://127.0.0.1:${refusedPort}`;
const refused2 = `http://127.0.0.1:${refusedPort2}`;

const garbageOpen = await startGarbage('this is not HTTP at all\r\n\r\n', false);
const garbageClosed = await startGarbage('SSH-2.0-OpenSSH_9.2\r\n', true);
const hangsUp = await startGarbage('', true);
const truncatedHead = await startGarbage('HTTP/1.1 200 OK\r\nContent-Type: text/pl', true);
const hangsUpRetry = await startGarbage('', true);
const silent1 = await startUpstream(silent);
const silent2 = await startUpstream(silent);
const dripUp = await startUpstream(drip);
const diesLenUp = await startUpstream(diesWithLength);
const diesChunkUp = await startUpstream(diesChunked);

// Each retry case gets its own healthy and sick backends, so each can assert exactly what they saw.
const good = {
  retryConnect: await startUpstream(),
  retryClosed: await startUpstream(),
  retry503: await startUpstream(),
  retry502: await startUpstream(),
  postConnect: await startUpstream(),
  post503: await startUpstream(),
  noRetryConnect: await startUpstream(),
  noRetry503: await startUpstream(),
};
const sick = {
  retry503: await startUpstream(unavailable),
  retry502: await startUpstream(badGateway),
  post503: await startUpstream(unavailable),
  noRetry503: await startUpstream(unavailable),
};

const single = (name: string, url: string, extra: Record<string, unknown> = {}) => ({ name, backends: [{ id: `${name}-0`, url }], ...extra });
const pair = (name: string, first: string, second: string, extra: Record<string, unknown> = {}) => ({
  name,
  backends: [
    { id: `${name}-a`, url: first },
    { id: `${name}-b`, url: second },
  ],
  ...extra,
});

const pools = [
  single('refused', refused),
  pair('allRefused', refused, refused2, { retries: 1 }),
  single('garbageOpen', garbageOpen.url),
  single('garbageClosed', garbageClosed.url),
  single('hangsUp', hangsUp.url),
  single('truncatedHead', truncatedHead.url),
  pair('retryClosed', hangsUpRetry.url, good.retryClosed.url),
  pair('silent', silent1.url, silent2.url, { timeouts: { response: '300ms' } }),
  single('drip', dripUp.url, { timeouts: { request: '1s' } }),
  single('diesLen', diesLenUp.url),
  single('diesChunk', diesChunkUp.url),
  pair('retryConnect', refused, good.retryConnect.url),
  pair('retry503', sick.retry503.url, good.retry503.url),
  pair('retry502', sick.retry502.url, good.retry502.url),
  pair('postConnect', refused, good.postConnect.url),
  pair('post503', sick.post503.url, good.post503.url),
  pair('noRetryConnect', refused, good.noRetryConnect.url, { retries: 0 }),
  pair('noRetry503', sick.noRetry503.url, good.noRetry503.url, { retries: 0 }),
];

// One worker: each pool's round robin is then one sequence, so "the other backend" is well defined.
const vf = await startVeloflux(
  { pools, routes: pools.map((p) => ({ path: `/${p.name}/`, pool: p.name })) },
  { workers: 1 },
);

t.teardown(async () => {
  await vf.stop();
  await Promise.all(
    [garbageOpen, garbageClosed, hangsUp, truncatedHead, hangsUpRetry, silent1, silent2, dripUp, diesLenUp, diesChunkUp, ...Object.values(good), ...Object.values(sick)].map((u) => u.close()),
  );
});

interface Answer {
  status: number;
  code: string | undefined;
  text: string;
}

async function call(path: string, method = 'GET', body?: string): Promise<Answer> {
  const res = await request(`${vf.url}${path}`, { method: method as 'GET', body });
  const text = await res.body.text();
  let code: string | undefined;
  if (String(res.headers['content-type']).includes('application/json')) code = (JSON.parse(text) as { error?: { code: string } }).error?.code;
  return { status: res.statusCode, code, text };
}

/** Reads a response to the end; resolves with the bytes received and the error that cut it off, if any. */
async function readAll(path: string): Promise<{ status: number; bytes: number; error: Error | undefined; ms: number }> {
  const started = Date.now();
  const res = await request(`${vf.url}${path}`);
  let bytes = 0;
  let error: Error | undefined;
  try {
    for await (const chunk of res.body) bytes += (chunk as Buffer).length;
  } catch (err) {
    error = err as Error;
  }
  return { status: res.statusCode, bytes, error, ms: Date.now() - started };
}

async function until(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('connection refused: 502 VF_ERR_UPSTREAM_CONNECT', async (t) => {
  const get = await call('/refused/x');
  t.equal(get.status, 502);
  t.equal(get.code, 'VF_ERR_UPSTREAM_CONNECT');
  const post = await call('/refused/x', 'POST', 'payload');
  t.equal(post.status, 502);
  t.equal(post.code, 'VF_ERR_UPSTREAM_CONNECT');
  const both = await call('/allRefused/x');
  t.equal(both.status, 502, 'every backend refused, retry exhausted');
  t.equal(both.code, 'VF_ERR_UPSTREAM_CONNECT');
});

t.test('garbage instead of HTTP: 502 VF_ERR_UPSTREAM_BAD_RESPONSE', async (t) => {
  for (const [name, upstream] of [['garbageOpen', garbageOpen], ['garbageClosed', garbageClosed]] as const) {
    const before = upstream.connections;
    const answer = await call(`/${name}/x`);
    t.equal(answer.status, 502, name);
    t.equal(answer.code, 'VF_ERR_UPSTREAM_BAD_RESPONSE', name);
    t.equal(upstream.connections, before + 1, `${name}: the backend was connected to once`);
  }
});

t.test('a backend that closes before a whole response head: 502 VF_ERR_UPSTREAM_BAD_RESPONSE', async (t) => {
  for (const [name, upstream] of [['hangsUp', hangsUp], ['truncatedHead', truncatedHead]] as const) {
    const before = upstream.connections;
    const answer = await call(`/${name}/x`);
    t.equal(answer.status, 502, name);
    t.equal(answer.code, 'VF_ERR_UPSTREAM_BAD_RESPONSE', `${name}: the connection was made, so not VF_ERR_UPSTREAM_CONNECT`);
    t.equal(upstream.connections, before + 1, `${name}: the backend was connected to once`);
  }
});

t.test('no response headers within timeouts.response: 504, not retried on the other backend', async (t) => {
  const started = Date.now();
  const answer = await call('/silent/x');
  const ms = Date.now() - started;
  t.equal(answer.status, 504);
  t.equal(answer.code, 'VF_ERR_UPSTREAM_TIMEOUT');
  t.ok(ms >= 250 && ms < 2000, `answered after ${ms} ms (timeout 300 ms)`);
  const seen = [...silent1.requests, ...silent2.requests];
  t.equal(seen.length, 1, 'the request reached one backend only: a timeout after sending is not retried');
  await until('the backend sees the request cancelled', () => seen[0]!.aborted);
  t.ok(seen[0]!.aborted, 'VeloFlux gave up on the upstream request');
});

t.test('a backend dripping bytes is cut off by timeouts.request', async (t) => {
  const result = await readAll('/drip/x');
  t.equal(result.status, 200, 'headers arrived');
  t.ok(result.error !== undefined, `the client sees the response cut off (${result.error?.message})`);
  t.ok(result.bytes < 100, `incomplete body: ${result.bytes} of 100 bytes`);
  t.ok(result.ms >= 900 && result.ms < 2500, `cut off after ${result.ms} ms (request timeout 1 s)`);
  t.equal(dripUp.requests.length, 1);
  await until('the dripping backend sees the connection closed', () => dripUp.requests[0]!.aborted);
  t.ok(dripUp.requests[0]!.aborted, 'the upstream connection was closed');
});

t.test('a backend dying mid-response cuts the client response off', async (t) => {
  const withLength = await readAll('/diesLen/x');
  t.equal(withLength.status, 200);
  t.ok(withLength.error !== undefined, 'Content-Length response: error, not a short success');
  t.ok(withLength.bytes < 1000, `got ${withLength.bytes} of 1000 bytes`);
  t.equal(diesLenUp.requests.length, 1);

  const chunked = await readAll('/diesChunk/x');
  t.equal(chunked.status, 200);
  t.ok(chunked.error !== undefined, 'chunked response: error, not a terminated body');
  t.equal(diesChunkUp.requests.length, 1);

  const after = await call('/retryConnect/still-alive');
  t.equal(after.status, 200, 'VeloFlux keeps serving');
});

t.test('GET is retried on the other backend when the first refuses the connection', async (t) => {
  const upstream = good.retryConnect;
  upstream.requests.length = 0;
  // Round robin alternates, so the refusing backend is picked first for every other request.
  for (let i = 0; i < 4; i++) {
    const answer = await call(`/retryConnect/r${i}`);
    t.equal(answer.status, 200, `request ${i} succeeded`);
    t.equal((JSON.parse(answer.text) as { url: string }).url, `/retryConnect/r${i}`);
  }
  t.same(upstream.requests.map((r) => r.url), ['/retryConnect/r0', '/retryConnect/r1', '/retryConnect/r2', '/retryConnect/r3'], 'each request reached the healthy backend exactly once');
});

t.test('GET is retried on the other backend when the first closes the connection without answering', async (t) => {
  for (let i = 0; i < 4; i++) {
    const answer = await call(`/retryClosed/r${i}`);
    t.equal(answer.status, 200, `request ${i} succeeded`);
  }
  t.equal(good.retryClosed.requests.length, 4, 'the healthy backend saw each request once');
  t.ok(hangsUpRetry.connections >= 2, `the closing backend was tried (${hangsUpRetry.connections} connections)`);
});

t.test('GET answered 503 or 502 is retried on the other backend', async (t) => {
  for (const [name, bad] of [['retry503', sick.retry503], ['retry502', sick.retry502]] as const) {
    const healthy = good[name];
    for (let i = 0; i < 4; i++) {
      const answer = await call(`/${name}/r${i}`);
      t.equal(answer.status, 200, `${name} request ${i}: the client gets the healthy answer`);
    }
    t.equal(healthy.requests.length, 4, `${name}: the healthy backend saw each request once`);
    t.ok(bad.requests.length >= 1 && bad.requests.length <= 4, `${name}: the failing backend was tried (${bad.requests.length})`);
  }
});

t.test('POST is never retried', async (t) => {
  // Two POSTs: round robin sends one of them to the failing backend first.
  const refusedAnswers = [await call('/postConnect/p', 'POST', 'body-1'), await call('/postConnect/p', 'POST', 'body-2')];
  t.same(refusedAnswers.map((a) => a.status).sort(), [200, 502]);
  t.equal(refusedAnswers.find((a) => a.status === 502)!.code, 'VF_ERR_UPSTREAM_CONNECT');
  t.equal(good.postConnect.requests.length, 1, 'the healthy backend saw only the POST picked for it');
  t.equal(good.postConnect.requests[0]!.bodyBytes, 6);

  const bodyless = [await call('/postConnect/empty', 'POST'), await call('/postConnect/empty', 'POST')];
  t.same(bodyless.map((a) => a.status).sort(), [200, 502], 'a POST without a body is not retried either');
  t.equal(good.postConnect.requests.length, 2);

  const sickAnswers = [await call('/post503/p', 'POST', 'body-1'), await call('/post503/p', 'POST', 'body-2')];
  t.same(sickAnswers.map((a) => a.status).sort(), [200, 503]);
  const passedThrough = sickAnswers.find((a) => a.status === 503)!;
  t.equal(passedThrough.text, 'sick backend', "the upstream's 503 reaches the client as it was");
  t.equal(sick.post503.requests.length, 1);
  t.equal(sick.post503.requests[0]!.bodyBytes, 6, 'the sick backend received the body');
  t.equal(good.post503.requests.length, 1, 'the healthy backend saw only the POST picked for it');
});

t.test('retries: 0 disables retrying', async (t) => {
  const connect = [await call('/noRetryConnect/g'), await call('/noRetryConnect/g')];
  t.same(connect.map((a) => a.status).sort(), [200, 502]);
  t.equal(connect.find((a) => a.status === 502)!.code, 'VF_ERR_UPSTREAM_CONNECT');
  t.equal(good.noRetryConnect.requests.length, 1);

  const unavailableAnswers = [await call('/noRetry503/g'), await call('/noRetry503/g')];
  t.same(unavailableAnswers.map((a) => a.status).sort(), [200, 503]);
  t.equal(unavailableAnswers.find((a) => a.status === 503)!.text, 'sick backend');
  t.equal(sick.noRetry503.requests.length, 1);
  t.equal(good.noRetry503.requests.length, 1);
});
