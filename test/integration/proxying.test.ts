/**
 * What a client and a backend see of a request proxied through a real VeloFlux: methods and
 * targets passed verbatim, routing (exact host, *.suffix, *, longest prefix, stripPrefix, no
 * route), round-robin across two backends and two workers, hop-by-hop headers, X-Forwarded-*,
 * X-Request-Id (untrusted and trusted peers) and repeated Set-Cookie.
 */
import t from 'tap';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Client, request } from 'undici';
import { rawRequest } from '../helpers/raw-http.js';
import { closedPort, echo, startUpstream, type Upstream, type UpstreamHandler } from '../helpers/upstream.js';
import { startVeloflux } from '../helpers/veloflux.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Echo, plus a few fixed answers under /hdr/ for the response-header cases. */
const mainHandler: UpstreamHandler = (req, res, seen) => {
  const url = req.url ?? '';
  if (url === '/hdr/cookies') {
    res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; HttpOnly', 'c=3; Expires=Wed, 21 Oct 2035 07:28:00 GMT']);
    return res.end('ok');
  }
  if (url === '/hdr/head') {
    // A HEAD answer announcing a body it does not send (RFC 9110 §9.3.2).
    res.writeHead(200, { 'content-length': '1234', 'x-head': 'yes' });
    return res.end();
  }
  echo(req, res, seen);
};

/**
 * An upstream written on a raw socket, so its answer can carry headers node's server refuses
 * to send (Trailer with Content-Length). Records each request head it read.
 */
async function startRawUpstream(response: string): Promise<{ url: string; heads: string[]; close(): Promise<void> }> {
  const heads: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buffered = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf('\r\n\r\n')) !== -1) {
        heads.push(buffered.slice(0, end));
        buffered = buffered.slice(end + 4);
        socket.write(response);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    heads,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const main = await startUpstream(mainHandler);
const hopUp = await startRawUpstream(
  'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Up-Secret\r\nX-Up-Secret: nominated\r\nKeep-Alive: timeout=99, max=7\r\n' +
    'Proxy-Connection: keep-alive\r\nTrailer: X-Trail\r\nUpgrade: h2c\r\nTE: trailers\r\nX-Up-Kept: yes\r\nContent-Length: 2\r\n\r\nok',
);
const exactUp = await startUpstream();
const suffixUp = await startUpstream();
const apiUp = await startUpstream();
const apiV2Up = await startUpstream();
const stripUp = await startUpstream();
const rr1 = await startUpstream();
const rr2 = await startUpstream();
const trustedUp = await startUpstream();

const pool = (name: string, ...upstreams: Upstream[]) => ({
  name,
  backends: upstreams.map((u, i) => ({ id: `${name}-${i}`, url: u.url })),
});

const [vf, trustedVf] = await Promise.all([
  startVeloflux(
    {
      pools: [
        pool('main', main),
        pool('exact', exactUp),
        pool('suffix', suffixUp),
        pool('api', apiUp),
        pool('apiv2', apiV2Up),
        pool('strip', stripUp),
        pool('rr', rr1, rr2),
        { name: 'hop', backends: [{ id: 'hop-0', url: hopUp.url }] },
      ],
      routes: [
        { host: 'exact.test', path: '/', pool: 'exact' },
        { host: '*.suffix.test', path: '/', pool: 'suffix' },
        { host: '*', path: '/echo', pool: 'main' },
        { host: '*', path: '/hdr/', pool: 'main' },
        { host: '*', path: '/api', pool: 'api' },
        { host: '*', path: '/api/v2', pool: 'apiv2' },
        { host: '*', path: '/strip/', pool: 'strip', stripPrefix: true },
        { host: '*', path: '/s2', pool: 'strip', stripPrefix: true },
        { host: '*', path: '/rr', pool: 'rr' },
        { host: '*', path: '/hop', pool: 'hop' },
      ],
    },
    { workers: 2 },
  ),
  startVeloflux(
    {
      server: { trustedProxies: ['127.0.0.1/32'] },
      pools: [pool('trusted', trustedUp)],
      routes: [{ path: '/', pool: 'trusted' }],
    },
    { workers: 1 },
  ),
]);

t.teardown(async () => {
  await Promise.all([vf.stop(), trustedVf.stop()]);
  await Promise.all([hopUp, main, exactUp, suffixUp, apiUp, apiV2Up, stripUp, rr1, rr2, trustedUp].map((u) => u.close()));
});

/** Headers of a raw HTTP/1.1 response, names lower-cased, values in order. */
function parseRawHeaders(text: string): Map<string, string[]> {
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  const map = new Map<string, string[]>();
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    map.set(name, [...(map.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return map;
}

/** The body of a raw HTTP/1.1 response, de-chunked when it is chunked. */
function parseRawBody(text: string): string {
  const split = text.indexOf('\r\n\r\n');
  const headers = parseRawHeaders(text);
  let rest = text.slice(split + 4);
  if (!/chunked/i.test(String(headers.get('transfer-encoding') ?? ''))) return rest;
  let body = '';
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, lineEnd), 16);
    if (size === 0) return body;
    body += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
}

/** Clears what the given upstreams recorded, so each case asserts only its own requests. */
function reset(...upstreams: Upstream[]): void {
  for (const u of upstreams) u.requests.length = 0;
}

t.test('every method reaches the upstream with its body, and HEAD answers carry no body', async (t) => {
  reset(main);
  const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;
  for (const method of methods) {
    const withBody = method === 'POST' || method === 'PUT' || method === 'PATCH';
    const res = await request(`${vf.url}/echo/m?method=${method}`, { method, body: withBody ? 'x'.repeat(1000) : undefined });
    const text = await res.body.text();
    t.equal(res.statusCode, 200, `${method} status`);
    const seen = main.requests.at(-1)!;
    t.equal(seen.method, method, `${method} reached the upstream as ${method}`);
    t.equal(seen.url, `/echo/m?method=${method}`, `${method} target`);
    t.equal(seen.bodyBytes, withBody ? 1000 : 0, `${method} body bytes at the upstream`);
    t.ok(seen.complete, `${method} body complete at the upstream`);
    if (method === 'HEAD') {
      t.equal(text, '', 'HEAD response has no body');
    } else {
      const body = JSON.parse(text) as { method: string; bodyBytes: number };
      t.equal(body.method, method);
      t.equal(body.bodyBytes, withBody ? 1000 : 0);
    }
  }
  t.equal(main.requests.length, methods.length, 'one upstream request per client request');
});

t.test('HEAD keeps the upstream Content-Length, sends no body, and the connection stays usable', async (t) => {
  reset(main);
  const client = new Client(vf.url, { pipelining: 1 });
  t.teardown(() => client.close());
  const head = await client.request({ path: '/hdr/head', method: 'HEAD' });
  t.equal(head.statusCode, 200);
  t.equal(head.headers['content-length'], '1234');
  t.equal(head.headers['x-head'], 'yes');
  t.equal(await head.body.text(), '');
  const next = await client.request({ path: '/echo/after-head', method: 'GET' });
  t.equal(next.statusCode, 200);
  t.equal(((await next.body.json()) as { url: string }).url, '/echo/after-head', 'next response on the same connection is not desynced');
  t.same(main.requests.map((r) => `${r.method} ${r.url}`), ['HEAD /hdr/head', 'GET /echo/after-head']);
});

t.test('request targets and query strings reach the upstream byte for byte (paths in normal form)', async (t) => {
  reset(main);
  // [sent, what the upstream gets]: a path already in its normal form (RFC 3986 6.2.2) and every
  // query string pass untouched; dot-segments and escaped unreserved characters are normalised.
  const targets: [string, string][] = [
    ['/echo/p%20a%2Fth;v=1?q=a%20b&x=%2F&y=1+2&z=%E2%9C%93&e=&flag&arr[]=1&u=%7e&amp=%26', '/echo/p%20a%2Fth;v=1?q=a%20b&x=%2F&y=1+2&z=%E2%9C%93&e=&flag&arr[]=1&u=%7e&amp=%26'],
    ['/echo?', '/echo?'],
    ['/echo/%2e%2E/echo/x?a=b?c=d', '/echo/x?a=b?c=d'],
    ['/echo/UPPER/case?K=V&k=v', '/echo/UPPER/case?K=V&k=v'],
    ['/ech%6F/%7euser?%7e', '/echo/~user?%7e'],
  ];
  for (const [target, forwarded] of targets) {
    const res = await rawRequest(vf.port, `GET ${target} HTTP/1.1\r\nHost: any.test\r\nConnection: close\r\n\r\n`);
    t.equal(res.status, 200, target);
    const body = JSON.parse(parseRawBody(res.text)) as { url: string };
    t.equal(body.url, forwarded, `client sees what the upstream saw: ${forwarded}`);
    t.equal(main.requests.at(-1)!.url, forwarded, `upstream received ${forwarded}`);
  }
  t.equal(main.requests.length, targets.length);
});

t.test('routing: exact host, *.suffix, *, longest prefix, stripPrefix and no route', async (t) => {
  const all = [main, exactUp, suffixUp, apiUp, apiV2Up, stripUp];
  reset(...all);
  const cases: { host: string; path: string; upstream: Upstream; seenPath: string }[] = [
    { host: 'exact.test', path: '/anything?x=1', upstream: exactUp, seenPath: '/anything?x=1' },
    { host: 'EXACT.test:8080', path: '/echo', upstream: exactUp, seenPath: '/echo' },
    { host: 'a.suffix.test', path: '/x', upstream: suffixUp, seenPath: '/x' },
    { host: 'deep.a.suffix.test', path: '/echo', upstream: suffixUp, seenPath: '/echo' },
    { host: 'other.test', path: '/echo/1', upstream: main, seenPath: '/echo/1' },
    { host: 'a.suffix.test.evil', path: '/echo/2', upstream: main, seenPath: '/echo/2' },
    { host: 'other.test', path: '/api/v1/users', upstream: apiUp, seenPath: '/api/v1/users' },
    { host: 'other.test', path: '/api/v2/users?id=7', upstream: apiV2Up, seenPath: '/api/v2/users?id=7' },
    { host: 'other.test', path: '/api', upstream: apiUp, seenPath: '/api' },
    { host: 'other.test', path: '/strip/a/b?c=1', upstream: stripUp, seenPath: '/a/b?c=1' },
    { host: 'other.test', path: '/strip/', upstream: stripUp, seenPath: '/' },
    { host: 'other.test', path: '/s2/x/y', upstream: stripUp, seenPath: '/x/y' },
    { host: 'other.test', path: '/s2?q=1', upstream: stripUp, seenPath: '/?q=1' },
  ];
  for (const c of cases) {
    const before = all.map((u) => u.requests.length);
    const res = await request(`${vf.url}${c.path}`, { headers: { host: c.host } });
    const body = (await res.body.json()) as { url: string };
    t.equal(res.statusCode, 200, `${c.host} ${c.path}`);
    t.equal(body.url, c.seenPath, `${c.host} ${c.path}: path seen upstream, as the client sees it echoed`);
    const grew = all.filter((u, i) => u.requests.length !== before[i]);
    t.same(grew, [c.upstream], `${c.host} ${c.path}: only the routed upstream received it`);
    t.equal(c.upstream.requests.at(-1)!.url, c.seenPath);
    t.equal(c.upstream.requests.at(-1)!.headers.host, c.host, 'Host is passed through');
  }

  for (const [host, path] of [['suffix.test', '/x'], ['other.test', '/nothing'], ['other.test', '/'], ['other.test', '/ap']] as const) {
    const before = all.map((u) => u.requests.length);
    const res = await request(`${vf.url}${path}`, { headers: { host } });
    t.equal(res.statusCode, 404, `${host} ${path}: no route`);
    t.match(res.headers['content-type'], /application\/json/);
    const body = (await res.body.json()) as { error: { code: string } };
    t.equal(body.error.code, 'VF_ERR_NO_ROUTE');
    t.same(all.map((u) => u.requests.length), before, `${host} ${path}: no upstream saw it`);
  }
});

t.test('round robin alternates two backends, across two workers', async (t) => {
  reset(rr1, rr2);
  // One connection: one worker, which must alternate strictly.
  const client = new Client(vf.url, { pipelining: 1 });
  t.teardown(() => client.close());
  const ports: number[] = [];
  for (let i = 0; i < 10; i++) {
    const res = await client.request({ path: `/rr/${i}`, method: 'GET' });
    t.equal(res.statusCode, 200);
    ports.push(((await res.body.json()) as { port: number }).port);
  }
  for (let i = 1; i < ports.length; i++) t.not(ports[i], ports[i - 1], `request ${i} went to the other backend`);
  t.equal(rr1.requests.length, 5);
  t.equal(rr2.requests.length, 5);

  // A new connection each time spreads requests over both workers; each worker alternates, so
  // the totals differ by at most one per worker.
  reset(rr1, rr2);
  for (let i = 0; i < 40; i++) {
    const res = await request(`${vf.url}/rr/n${i}`, { reset: true, headers: { connection: 'close' } });
    t.equal(res.statusCode, 200);
    await res.body.dump();
  }
  t.equal(rr1.requests.length + rr2.requests.length, 40);
  t.ok(Math.abs(rr1.requests.length - rr2.requests.length) <= 2, `balanced: ${rr1.requests.length} vs ${rr2.requests.length}`);
});

t.test('hop-by-hop headers are removed in both directions', async (t) => {
  hopUp.heads.length = 0;
  const res = await rawRequest(
    vf.port,
    'GET /hop HTTP/1.1\r\nHost: any.test\r\nConnection: close, X-Secret\r\nX-Secret: nominated\r\nKeep-Alive: timeout=9\r\n' +
      'TE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\nX-Kept: yes\r\n\r\n',
  );
  t.equal(res.status, 200);
  t.equal(hopUp.heads.length, 1, 'the upstream received one request');
  const seen = parseRawHeaders(`${hopUp.heads[0]!}\r\n\r\n`);
  for (const name of ['x-secret', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-connection']) {
    t.notOk(seen.has(name), `upstream did not receive ${name}`);
  }
  t.notMatch(String(seen.get('connection') ?? ''), /x-secret|close/i, 'client Connection tokens not forwarded');
  t.same(seen.get('x-kept'), ['yes'], 'end-to-end header forwarded');

  const headers = parseRawHeaders(res.text);
  for (const name of ['x-up-secret', 'proxy-connection', 'trailer', 'upgrade', 'te']) {
    t.notOk(headers.has(name), `client did not receive ${name}`);
  }
  t.notMatch(String(headers.get('keep-alive') ?? ''), /99/, 'upstream Keep-Alive not forwarded');
  t.notMatch(String(headers.get('connection') ?? ''), /x-up-secret/i, 'upstream Connection not forwarded');
  t.same(headers.get('x-up-kept'), ['yes']);
  t.equal(parseRawBody(res.text), 'ok', 'body intact');
});

t.test('several Set-Cookie headers reach the client unmerged', async (t) => {
  reset(main);
  const res = await request(`${vf.url}/hdr/cookies`);
  t.equal(res.statusCode, 200);
  t.same(res.headers['set-cookie'], ['a=1; Path=/', 'b=2; HttpOnly', 'c=3; Expires=Wed, 21 Oct 2035 07:28:00 GMT']);
  t.equal(await res.body.text(), 'ok');
  t.equal(main.requests.length, 1);
});

t.test('untrusted peer: X-Forwarded-* and X-Request-Id are set by VeloFlux, client values dropped', async (t) => {
  reset(main);
  const res = await request(`${vf.url}/echo/xff`, {
    headers: {
      host: 'site.test:8443',
      'x-forwarded-for': '1.2.3.4',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.test',
      'x-request-id': 'client-chosen-id',
    },
  });
  t.equal(res.statusCode, 200);
  const body = (await res.body.json()) as { headers: Record<string, string> };
  const seen = main.requests.at(-1)!;
  for (const headers of [body.headers, seen.headers]) {
    t.equal(headers['x-forwarded-for'], '127.0.0.1', 'X-Forwarded-For is the peer only');
    t.equal(headers['x-forwarded-proto'], 'http');
    t.equal(headers['x-forwarded-host'], 'site.test:8443');
    t.match(headers['x-request-id'], UUID, 'a generated UUID');
  }
  const count = (name: string) => seen.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === name).length;
  for (const name of ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id']) t.equal(count(name), 1, `one ${name}`);

  const again = await request(`${vf.url}/echo/xff2`);
  await again.body.dump();
  const ids = main.requests.map((r) => r.headers['x-request-id']);
  t.equal(ids.length, 2);
  t.not(ids[0], ids[1], 'every request gets its own id');
  t.match(ids[1], UUID);
});

t.test('trusted peer: X-Forwarded-For is appended, the client request id and proto are kept', async (t) => {
  reset(trustedUp);
  const res = await request(`${trustedVf.url}/xff`, {
    headers: {
      host: 'site.test',
      'x-forwarded-for': '1.2.3.4, 10.0.0.1',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'public.test',
      'x-request-id': 'edge-id-42',
    },
  });
  t.equal(res.statusCode, 200);
  const body = (await res.body.json()) as { headers: Record<string, string> };
  t.equal(body.headers['x-forwarded-for'], '1.2.3.4, 10.0.0.1, 127.0.0.1');
  const seen = trustedUp.requests.at(-1)!;
  t.equal(seen.headers['x-forwarded-for'], '1.2.3.4, 10.0.0.1, 127.0.0.1');
  t.equal(seen.headers['x-forwarded-proto'], 'https');
  t.equal(seen.headers['x-forwarded-host'], 'public.test');
  t.equal(seen.headers['x-request-id'], 'edge-id-42');

  const plain = await request(`${trustedVf.url}/plain`, { headers: { host: 'site.test' } });
  await plain.body.dump();
  const second = trustedUp.requests.at(-1)!;
  t.equal(second.headers['x-forwarded-for'], '127.0.0.1', 'no client XFF: the peer alone');
  t.equal(second.headers['x-forwarded-proto'], 'http');
  t.equal(second.headers['x-forwarded-host'], 'site.test');
  t.match(second.headers['x-request-id'], UUID, 'generated when the trusted peer sent none');
  t.equal(trustedUp.requests.length, 2);
});

t.test('a backend that points at the proxy itself: the request that comes back gets 508, no fan-out (issue 14)', async (t) => {
  const port = await closedPort();
  const loop = await startVeloflux({
    server: { http: { port, host: '127.0.0.1' } },
    pools: [{ name: 'self', backends: [{ id: 'self-1', url: `http://127.0.0.1:${port}` }] }],
    routes: [{ path: '/', pool: 'self' }],
  });
  t.teardown(() => loop.stop());
  const started = Date.now();
  const res = await fetch(`${loop.url}/x`);
  const body = (await res.json()) as { error: { code: string } };
  t.equal(res.status, 508, "the first hop relays the second hop's 508");
  t.equal(body.error.code, 'VF_ERR_LOOP_DETECTED');
  t.ok(Date.now() - started < 2000, `answered in ${Date.now() - started} ms`);
});

t.test("every request sent upstream carries this instance's Via entry after any it came with", async (t) => {
  const res = await rawRequest(vf.port, `GET /echo/via HTTP/1.1\r\nHost: x\r\nVia: 1.1 edge\r\nConnection: close\r\n\r\n`);
  t.equal(res.status, 200);
  const seen = main.requests.at(-1)!;
  t.match(String(seen.headers.via), /^1\.1 edge, 1\.1 vf-[0-9a-f]{12}$/);
});
