/**
 * The admin API of a real VeloFlux (2 workers) as an operator sees it: auth and where it listens,
 * a clear 4xx with its own code for each kind of bad input (and the running config untouched),
 * runtime backend operations proven by which upstream answers, metrics, audit and dry runs.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request, createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { tokenMatches } from '../../src/primary/admin/token.js';
import { CLI, TEST_ADMIN_TOKEN, startVeloflux, writeConfig, type RunningVeloflux } from '../helpers/veloflux.js';
import { startUpstream } from '../helpers/upstream.js';
import { rawRequest } from '../helpers/raw-http.js';

interface ErrorBody {
  error: { code: string; message: string; problems?: string[] };
}
interface BackendView {
  id: string;
  url: string;
  weight?: number;
  drain?: boolean;
}
interface DynamicView {
  pools: { name: string; backends: BackendView[] }[];
  routes: Record<string, unknown>[];
}
interface MetricsView {
  configVersion: number;
  workers: { id: number; pid: number; ready: boolean; requests: number; activeConnections: number; memory: { rssBytes: number }; eventLoopLagMs: unknown }[];
  pools: { name: string; algorithm: string; backends: (BackendView & { requests: number; inFlight: number })[] }[];
}
interface AuditView {
  entries: { at: string; actor: { via: string; address?: string }; action: string; target?: string; outcome: string; configVersion?: number; detail?: unknown }[];
}

const [A, B, C] = await Promise.all([startUpstream(), startUpstream(), startUpstream()]);
const names = new Map<number, string>([
  [A.port, 'A'],
  [B.port, 'B'],
  [C.port, 'C'],
]);
const original = {
  pools: [
    {
      name: 'web',
      backends: [
        { id: 'a', url: A.url },
        { id: 'b', url: B.url },
      ],
    },
  ],
  routes: [{ path: '/', pool: 'web' }],
};
// `server.admin` without `host`: the default must be loopback.
const vf = await startVeloflux({ ...original, server: { admin: { port: 0 } } }, { workers: 2 });
t.teardown(async () => {
  await vf.stop();
  await Promise.all([A.close(), B.close(), C.close()]);
});

/** One GET on a new connection (so both workers take turns); the upstream that answered, or the status. */
function getOnce(port: number, path = '/'): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? (names.get(Number(res.headers['x-upstream-port'])) ?? '?') : `status ${res.statusCode}`));
    });
    req.on('error', (err) => resolve(`error ${err.message}`));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Which upstream answered `n` requests, each on a new connection: { A: 10, B: 10 }. */
async function traffic(n = 20): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const who = await getOnce(vf.port);
    counts[who] = (counts[who] ?? 0) + 1;
  }
  return counts;
}

/**
 * `even` when `n` requests went to exactly the upstreams named, evenly: each worker balances on its
 * own (round robin), so the total may be off by one per worker. Otherwise the counts, for the diff.
 */
async function spread(n: number, upstreams: string[]): Promise<string> {
  const counts = await traffic(n);
  const share = n / upstreams.length;
  const even = Object.keys(counts).sort().join() === [...upstreams].sort().join() && upstreams.every((u) => Math.abs(counts[u]! - share) <= 2);
  return even ? 'even' : JSON.stringify(counts);
}

async function current(instance: RunningVeloflux = vf): Promise<{ etag: string; body: DynamicView; version: number }> {
  const res = await instance.admin('/admin/config');
  const health = (await (await fetch(`${instance.adminUrl}/admin/health`)).json()) as { configVersion: number };
  return { etag: res.headers.get('etag')!, body: (await res.json()) as DynamicView, version: health.configVersion };
}

/** PUT the original config back, whatever the state (If-Match: *). */
async function restoreOriginal(): Promise<void> {
  const res = await vf.admin('/admin/config', { method: 'PUT', body: JSON.stringify(original), headers: { 'if-match': '*' } });
  if (res.status !== 200) throw new Error(`restore failed: ${res.status} ${await res.text()}`);
}

async function errorOf(res: Response): Promise<{ status: number; code: string; body: ErrorBody }> {
  const body = (await res.json()) as ErrorBody;
  return { status: res.status, code: body.error?.code, body };
}

t.test('tokenMatches compares whole tokens (hashed, so lengths never leak or throw)', async (t) => {
  t.equal(tokenMatches(TEST_ADMIN_TOKEN, TEST_ADMIN_TOKEN), true, 'equal');
  t.equal(tokenMatches(TEST_ADMIN_TOKEN, `${TEST_ADMIN_TOKEN.slice(0, -1)}X`), false, 'last character differs');
  t.equal(tokenMatches(TEST_ADMIN_TOKEN, `X${TEST_ADMIN_TOKEN.slice(1)}`), false, 'first character differs');
  t.equal(tokenMatches(TEST_ADMIN_TOKEN, TEST_ADMIN_TOKEN.slice(0, 10)), false, 'a prefix (shorter)');
  t.equal(tokenMatches(TEST_ADMIN_TOKEN, `${TEST_ADMIN_TOKEN}extra`), false, 'longer');
  t.equal(tokenMatches(TEST_ADMIN_TOKEN, ''), false, 'empty');
  t.equal(tokenMatches(TEST_ADMIN_TOKEN, TEST_ADMIN_TOKEN.toUpperCase()), false, 'case matters');
});

t.test('GET /admin/health answers without a token: up, workers, config version', async (t) => {
  const res = await fetch(`${vf.adminUrl}/admin/health`);
  t.equal(res.status, 200);
  const body = (await res.json()) as { status: string; workers: { ready: number; alive: number; expected: number }; configVersion: number };
  t.equal(body.status, 'up');
  t.same(body.workers, { ready: 2, alive: 2, expected: 2 });
  t.type(body.configVersion, 'number');
});

t.test('no token or a wrong one: 401 with its own code, and nothing is applied', async (t) => {
  const before = await current();
  const none = await fetch(`${vf.adminUrl}/admin/config`);
  t.equal(none.status, 401);
  t.match(none.headers.get('www-authenticate'), /^Bearer realm="veloflux-admin"/);
  t.equal((await errorOf(none)).code, 'VF_ERR_AUTH_REQUIRED');

  const basic = await fetch(`${vf.adminUrl}/admin/config`, { headers: { authorization: `Basic ${Buffer.from(`admin:${TEST_ADMIN_TOKEN}`).toString('base64')}` } });
  t.equal(basic.status, 401, 'another scheme is not a bearer token');
  t.equal((await errorOf(basic)).code, 'VF_ERR_AUTH_REQUIRED');

  const wrong = await fetch(`${vf.adminUrl}/admin/config`, { headers: { authorization: 'Bearer not-the-token-0123456789abcdef' } });
  t.equal(wrong.status, 401);
  t.match(wrong.headers.get('www-authenticate'), /error="invalid_token"/);
  t.equal((await errorOf(wrong)).code, 'VF_ERR_AUTH_INVALID');

  // Mutations without a valid token do nothing.
  const drain = await fetch(`${vf.adminUrl}/admin/backends/a/drain`, { method: 'POST', headers: { authorization: 'Bearer wrong-token-0123456789abcdef' } });
  t.equal(drain.status, 401);
  const put = await fetch(`${vf.adminUrl}/admin/config`, { method: 'PUT', headers: { 'content-type': 'application/json', 'if-match': '*' }, body: JSON.stringify({ pools: [], routes: [] }) });
  t.equal(put.status, 401);
  t.equal((await errorOf(put)).code, 'VF_ERR_AUTH_REQUIRED');
  const after = await current();
  t.equal(after.etag, before.etag, 'ETag unchanged');
  t.equal(after.version, before.version, 'no snapshot was sent to the workers');
  t.equal(await spread(10, ['A', 'B']), 'even', 'both backends still serve');

  // No CORS: a browser on another origin gets no permission to call the API.
  const preflight = await fetch(`${vf.adminUrl}/admin/config`, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'PUT' } });
  t.equal(preflight.headers.get('access-control-allow-origin'), null, 'no Access-Control-Allow-Origin');
});

/** Listening TCP sockets on `port` from /proc/net/tcp{,6}: the bound addresses, as hex. */
function listeners(port: number): string[] {
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 4) continue;
      const [address, hexPort] = fields[1]!.split(':') as [string, string];
      if (parseInt(hexPort, 16) === port && fields[3] === '0A') found.push(address);
    }
  }
  return found;
}

function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('timeout');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

t.test('the admin API listens on 127.0.0.1 only by default', async (t) => {
  const ready = vf.logs().find((l) => l.msg === 'veloflux ready') as { admin: { host: string; port: number } };
  t.equal(ready.admin.host, '127.0.0.1', 'the ready log names the loopback address');
  t.same(listeners(vf.adminPort), ['0100007F'], 'the kernel has one listening socket on the admin port, bound to 127.0.0.1');
  t.equal(await tryConnect('127.0.0.1', vf.adminPort), 'connected', 'reachable on loopback');
});

const external = Object.values(networkInterfaces())
  .flat()
  .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal);

t.test(
  'the admin API is not reachable on a non-loopback address of this machine',
  { skip: external === undefined ? 'this machine has no non-loopback IPv4 address to try the admin port on' : false },
  async (t) => {
    const address = external!.address;
    // Control: this address does accept connections when something listens on all interfaces.
    const control = createServer();
    await new Promise<void>((r) => control.listen(0, '0.0.0.0', r));
    t.teardown(() => control.close());
    t.equal(await tryConnect(address, (control.address() as AddressInfo).port), 'connected', `${address} is reachable`);
    t.equal(await tryConnect(address, vf.adminPort), 'ECONNREFUSED', `the admin port is refused on ${address}`);
  },
);

function runCli(file: string, env: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, [CLI, '--config', file], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 15_000 });
  return { code: r.status, stderr: r.stderr };
}

t.test('a non-loopback admin host without a token refuses to start', async (t) => {
  const file = writeConfig({ ...original, server: { admin: { port: 0, host: '0.0.0.0' } } });
  const r = runCli(file, { VELOFLUX_ADMIN_TOKEN: '' });
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, /veloflux: the admin API would listen on 0\.0\.0\.0 without a token: set VELOFLUX_ADMIN_TOKEN or server\.admin\.tokenFile, or bind it to 127\.0\.0\.1/);
});

t.test('a too-short token refuses to start', async (t) => {
  const file = writeConfig(original);
  const r = runCli(file, { VELOFLUX_ADMIN_TOKEN: 'short-token' });
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, /veloflux: the admin token must be at least 16 characters/);
});

t.test('on loopback without a token, one is generated, printed once, and required', async (t) => {
  const own = await startVeloflux(original, { env: { VELOFLUX_ADMIN_TOKEN: '' } });
  t.teardown(() => own.stop());
  const printed = /admin API token \(generated for this run, shown once\): (\S+)/.exec(own.output());
  t.ok(printed, 'the token is printed');
  t.equal(own.output().split(printed![1]!).length - 1, 1, 'exactly once');
  t.equal((await own.admin('/admin/config')).status, 401, 'the usual test token does not work');
  const res = await fetch(`${own.adminUrl}/admin/config`, { headers: { authorization: `Bearer ${printed![1]}` } });
  t.equal(res.status, 200, 'the printed one does');
});

t.test('bad input: each its own 4xx and VF_ERR_* code, the running config untouched', async (t) => {
  const before = await current();
  t.equal(await spread(10, ['A', 'B']), 'even', 'both backends serve');

  const cases: { name: string; path: string; init: RequestInit; status: number; code: string; check?: (body: ErrorBody) => void }[] = [
    { name: 'malformed JSON', path: '/admin/config', init: { method: 'PUT', body: '{"pools": [', headers: { 'if-match': before.etag } }, status: 400, code: 'VF_ERR_INVALID_JSON' },
    { name: 'no body where one is needed', path: '/admin/backends/a/weight', init: { method: 'PUT', body: '' }, status: 400, code: 'VF_ERR_VALIDATION' },
    { name: 'a JSON array for a config', path: '/admin/config', init: { method: 'PUT', body: '[]', headers: { 'if-match': before.etag } }, status: 400, code: 'VF_ERR_VALIDATION' },
    {
      name: 'prototype poisoning',
      path: '/admin/config',
      init: { method: 'PUT', body: '{"__proto__": {"admin": true}, "pools": [], "routes": []}', headers: { 'if-match': before.etag } },
      status: 400,
      code: 'VF_ERR_INVALID_JSON',
    },
    {
      name: 'not JSON at all',
      path: '/admin/config',
      init: { method: 'PUT', body: 'pools: []', headers: { 'if-match': before.etag, 'content-type': 'text/plain' } },
      status: 400,
      code: 'VF_ERR_VALIDATION',
    },
    {
      name: 'unknown top-level field in a config',
      path: '/admin/config',
      init: { method: 'PUT', body: JSON.stringify({ ...original, extra: true }), headers: { 'if-match': before.etag } },
      status: 400,
      code: 'VF_ERR_VALIDATION',
    },
    { name: 'unknown field in a weight body', path: '/admin/backends/a/weight', init: { method: 'PUT', body: JSON.stringify({ weight: 2, wieght: 3 }) }, status: 400, code: 'VF_ERR_VALIDATION' },
    { name: 'weight as a string', path: '/admin/backends/a/weight', init: { method: 'PUT', body: JSON.stringify({ weight: '2' }) }, status: 400, code: 'VF_ERR_VALIDATION' },
    { name: 'weight out of range', path: '/admin/backends/a/weight', init: { method: 'PUT', body: JSON.stringify({ weight: 5000 }) }, status: 400, code: 'VF_ERR_VALIDATION' },
    {
      name: 'unknown field in a new backend',
      path: '/admin/pools/web/backends',
      init: { method: 'POST', body: JSON.stringify({ id: 'c', url: C.url, wieght: 2 }) },
      status: 400,
      code: 'VF_ERR_VALIDATION',
    },
    {
      name: 'a config that fails validation',
      path: '/admin/config',
      init: {
        method: 'PUT',
        body: JSON.stringify({ pools: [{ name: 'web', backends: [{ id: 'a', url: 'ftp://nope', weigth: 1 }] }], routes: [{ path: '/', pool: 'ghost' }] }),
        headers: { 'if-match': before.etag },
      },
      status: 422,
      code: 'VF_ERR_CONFIG_INVALID',
      check: (body) => {
        const problems = body.error.problems ?? [];
        t.ok(problems.some((p) => p.startsWith('pools[0].backends[0].url: ')), 'problem at pools[0].backends[0].url');
        t.ok(problems.some((p) => p.startsWith('pools[0].backends[0]: unknown key(s) "weigth"')), 'problem at pools[0].backends[0] (unknown key)');
        t.ok(problems.some((p) => p.startsWith('routes[0].pool: unknown pool "ghost"')), 'problem at routes[0].pool');
      },
    },
    {
      name: 'a new backend with an invalid URL',
      path: '/admin/pools/web/backends',
      init: { method: 'POST', body: JSON.stringify({ id: 'c', url: 'not a url' }) },
      status: 422,
      code: 'VF_ERR_CONFIG_INVALID',
      check: (body) => t.ok(body.error.problems?.some((p) => /^pools\[0\]\.backends\[2\]\.url: /.test(p)), 'problem names the new backend'),
    },
    { name: 'stale ETag', path: '/admin/config', init: { method: 'PUT', body: JSON.stringify(original), headers: { 'if-match': '"0123456789abcdef0123"' } }, status: 412, code: 'VF_ERR_PRECONDITION_FAILED' },
    { name: 'missing If-Match', path: '/admin/config', init: { method: 'PUT', body: JSON.stringify(original) }, status: 428, code: 'VF_ERR_PRECONDITION_REQUIRED' },
    { name: 'drain an unknown backend', path: '/admin/backends/nope/drain', init: { method: 'POST' }, status: 404, code: 'VF_ERR_BACKEND_NOT_FOUND' },
    { name: 'undrain an unknown backend', path: '/admin/backends/nope/undrain', init: { method: 'POST' }, status: 404, code: 'VF_ERR_BACKEND_NOT_FOUND' },
    { name: 'weight of an unknown backend', path: '/admin/backends/nope/weight', init: { method: 'PUT', body: JSON.stringify({ weight: 2 }) }, status: 404, code: 'VF_ERR_BACKEND_NOT_FOUND' },
    { name: 'remove an unknown backend', path: '/admin/backends/nope', init: { method: 'DELETE' }, status: 404, code: 'VF_ERR_BACKEND_NOT_FOUND' },
    { name: 'add to an unknown pool', path: '/admin/pools/nope/backends', init: { method: 'POST', body: JSON.stringify({ id: 'c', url: C.url }) }, status: 404, code: 'VF_ERR_POOL_NOT_FOUND' },
    { name: 'add a duplicate backend id', path: '/admin/pools/web/backends', init: { method: 'POST', body: JSON.stringify({ id: 'b', url: C.url }) }, status: 409, code: 'VF_ERR_BACKEND_EXISTS' },
    { name: 'unknown admin route', path: '/admin/nope', init: {}, status: 404, code: 'VF_ERR_NOT_FOUND' },
    { name: 'known path, wrong method', path: '/admin/config', init: { method: 'DELETE' }, status: 404, code: 'VF_ERR_NOT_FOUND' },
    { name: 'bad audit limit', path: '/admin/audit?limit=lots', init: {}, status: 400, code: 'VF_ERR_VALIDATION' },
  ];

  for (const c of cases) {
    const res = await vf.admin(c.path, c.init);
    const { status, code, body } = await errorOf(res);
    t.equal(status, c.status, `${c.name}: status ${c.status}`);
    t.equal(code, c.code, `${c.name}: ${c.code}`);
    t.type(body.error.message, 'string', `${c.name}: a message`);
    c.check?.(body);
    const after = await current();
    t.equal(after.etag, before.etag, `${c.name}: ETag unchanged`);
    t.equal(after.version, before.version, `${c.name}: nothing sent to the workers`);
  }
  // Headers announcing a body over the limit: refused before it is read.
  const big = await rawRequest(
    vf.adminPort,
    `PUT /admin/config HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_ADMIN_TOKEN}\r\nIf-Match: *\r\nContent-Type: application/json\r\nContent-Length: ${6 * 1024 * 1024}\r\n\r\n{"pools":`,
  );
  t.equal(big.status, 413, 'a body over 5 MiB: 413');
  t.match(big.text, /"code":"VF_ERR_BODY_TOO_LARGE"/);

  t.same((await current()).body, before.body, 'config body unchanged');
  t.equal(await spread(10, ['A', 'B']), 'even', 'traffic unchanged');
  t.equal(C.requests.length, 0, 'the backend that was never added got nothing');
});

t.test('PUT /admin/config applies a whole config on every worker and returns the new ETag', async (t) => {
  const before = await current();
  const onlyC = { pools: [{ name: 'web', backends: [{ id: 'c', url: C.url }] }], routes: [{ path: '/', pool: 'web' }] };
  const res = await vf.admin('/admin/config', { method: 'PUT', body: JSON.stringify(onlyC), headers: { 'if-match': before.etag } });
  t.equal(res.status, 200);
  const result = (await res.json()) as { etag: string; configVersion: number; needsRestart: string[] };
  t.not(result.etag, before.etag, 'a new ETag');
  t.equal(res.headers.get('etag'), result.etag, 'also in the ETag header');
  t.ok(result.configVersion > before.version);
  t.same(result.needsRestart, []);
  t.same(await traffic(10), { C: 10 }, 'every worker serves the new config');
  t.same((await current()).body, onlyC);

  const stale = await vf.admin('/admin/config', { method: 'PUT', body: JSON.stringify(original), headers: { 'if-match': before.etag } });
  t.equal(stale.status, 412, 'the old ETag is stale now');
  t.same(await traffic(4), { C: 4 });

  const back = await vf.admin('/admin/config', { method: 'PUT', body: JSON.stringify(original), headers: { 'if-match': result.etag } });
  t.equal(back.status, 200);
  t.equal((await current()).etag, before.etag, 'equal configs have equal ETags');
  t.equal(await spread(10, ['A', 'B']), 'even', 'balanced');
});

t.test('two PUTs based on the same ETag: one applies, the other gets 412', async (t) => {
  t.teardown(restoreOriginal);
  const { etag } = await current();
  const onlyA = { pools: [{ name: 'web', backends: [{ id: 'a', url: A.url }] }], routes: original.routes };
  const onlyC = { pools: [{ name: 'web', backends: [{ id: 'c', url: C.url }] }], routes: original.routes };
  const [first, second] = await Promise.all(
    [onlyA, onlyC].map((body) => vf.admin('/admin/config', { method: 'PUT', body: JSON.stringify(body), headers: { 'if-match': etag } })),
  );
  t.same([first!.status, second!.status].sort(), [200, 412], 'changes are serialised; the later one was based on a stale ETag');
  const [winner, loser] = first!.status === 200 ? ['A', second!] : ['C', first!];
  t.equal((await errorOf(loser)).code, 'VF_ERR_PRECONDITION_FAILED');
  t.same(await traffic(10), { [winner]: 10 }, 'the one that applied is in force');
});

t.test('runtime operations change traffic at once on every worker', async (t) => {
  t.teardown(restoreOriginal);
  const seenByB = B.requests.length;
  let res = await vf.admin('/admin/backends/b/drain', { method: 'POST' });
  t.equal(res.status, 200, 'drain');
  t.same(await traffic(20), { A: 20 }, 'a drained backend gets no new requests');
  t.equal(B.requests.length, seenByB, 'B saw nothing');
  t.equal((await current()).body.pools[0]!.backends[1]!.drain, true, 'GET /admin/config shows the drain');

  res = await vf.admin('/admin/backends/b/undrain', { method: 'POST' });
  t.equal(res.status, 200, 'undrain');
  t.equal(await spread(20, ['A', 'B']), 'even', 'undrained: both again');

  res = await vf.admin('/admin/backends/a/weight', { method: 'PUT', body: JSON.stringify({ weight: 3 }) });
  t.equal(res.status, 200, 'weight');
  const weighted = await traffic(40);
  // Each worker runs smooth weighted round robin a,a,b,a: 3 to 1 whichever worker takes a connection.
  t.ok((weighted.A ?? 0) >= 28 && (weighted.A ?? 0) <= 32 && (weighted.A ?? 0) + (weighted.B ?? 0) === 40, `about 3:1 with weights 3 and 1: ${JSON.stringify(weighted)}`);

  res = await vf.admin('/admin/backends/a/weight', { method: 'PUT', body: JSON.stringify({ weight: 0 }) });
  t.equal(res.status, 200, 'weight 0');
  t.same(await traffic(10), { B: 10 }, 'weight 0 takes no requests');

  res = await vf.admin('/admin/backends/a/weight', { method: 'PUT', body: JSON.stringify({ weight: 1 }) });
  res = await vf.admin('/admin/pools/web/backends', { method: 'POST', body: JSON.stringify({ id: 'c', url: C.url }) });
  t.equal(res.status, 201, 'add: 201 Created');
  t.equal(await spread(30, ['A', 'B', 'C']), 'even', 'the added backend takes its share');
  t.same(
    (await current()).body.pools[0]!.backends.map((b) => b.id),
    ['a', 'b', 'c'],
  );

  const seenByC = C.requests.length;
  res = await vf.admin('/admin/backends/c', { method: 'DELETE' });
  t.equal(res.status, 200, 'remove');
  t.equal(await spread(20, ['A', 'B']), 'even', 'the removed backend gets nothing');
  t.equal(C.requests.length, seenByC);

  res = await vf.admin('/admin/backends/a', { method: 'DELETE' });
  t.equal(res.status, 200, 'remove a backend from the base config');
  t.same(await traffic(10), { B: 10 });
  t.equal((await errorOf(await vf.admin('/admin/backends/a/drain', { method: 'POST' }))).code, 'VF_ERR_BACKEND_NOT_FOUND', 'a removed backend is unknown');
});

t.test('body-less calls work with or without a JSON Content-Type (curl -H habits, SDKs)', async (t) => {
  t.teardown(restoreOriginal);
  const json = { 'content-type': 'application/json' };
  t.equal((await vf.admin('/admin/reload', { method: 'POST', headers: json })).status, 200, 'POST /admin/reload');
  t.equal((await vf.admin('/admin/backends/b/drain', { method: 'POST', headers: json })).status, 200, 'POST drain');
  t.same(await traffic(6), { A: 6 });
  t.equal((await vf.admin('/admin/backends/b/undrain', { method: 'POST' })).status, 200, 'POST undrain without any Content-Type');
  t.equal((await vf.admin('/admin/backends/b', { method: 'DELETE', headers: json })).status, 200, 'DELETE');
  t.same(await traffic(6), { A: 6 });
});

t.test('GET /admin/metrics: per-worker request counts grow with traffic, per-backend state', async (t) => {
  t.teardown(restoreOriginal);
  const read = async () => (await (await vf.admin('/admin/metrics')).json()) as MetricsView;
  const first = await read();
  t.equal(first.workers.length, 2);
  for (const w of first.workers) {
    t.ok(w.ready, `worker ${w.id} ready`);
    t.ok(w.pid > 0);
    t.ok(w.memory.rssBytes > 0, 'memory reported');
  }
  const before = new Map(first.workers.map((w) => [w.pid, w.requests]));
  await traffic(20);
  // Stats arrive once a second.
  let latest = first;
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    latest = await read();
    if (latest.workers.every((w) => w.requests >= (before.get(w.pid) ?? 0) + 10)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  for (const w of latest.workers) t.ok(w.requests >= (before.get(w.pid) ?? 0) + 10, `worker ${w.id}: ${before.get(w.pid)} -> ${w.requests} requests`);

  await vf.admin('/admin/backends/b/drain', { method: 'POST' });
  await vf.admin('/admin/backends/a/weight', { method: 'PUT', body: JSON.stringify({ weight: 4 }) });
  const now = await read();
  const web = now.pools.find((p) => p.name === 'web')!;
  t.equal(web.algorithm, 'round_robin');
  const a = web.backends.find((b) => b.id === 'a')!;
  const b = web.backends.find((b) => b.id === 'b')!;
  t.match(a, { url: A.url, weight: 4, drain: false, inFlight: 0 });
  t.match(b, { url: B.url, weight: 1, drain: true });
  t.ok(a.requests > 0, `backend a served ${a.requests} requests`);
});

t.test('GET /admin/audit: who, what and when, for applied and rejected changes', async (t) => {
  t.teardown(restoreOriginal);
  const started = Date.now();
  await vf.admin('/admin/backends/a/drain', { method: 'POST' });
  await vf.admin('/admin/backends/ghost/drain', { method: 'POST' });
  await vf.admin('/admin/config', { method: 'PUT', body: JSON.stringify(original), headers: { 'if-match': '"stale"' } });
  const res = await vf.admin('/admin/audit?limit=3');
  t.equal(res.status, 200);
  const { entries } = (await res.json()) as AuditView;
  t.equal(entries.length, 3, 'limit respected, newest first');
  const [stale, ghost, drain] = entries;
  t.match(drain, { actor: { via: 'admin-api', address: '127.0.0.1' }, action: 'backend.drain', target: 'a', outcome: 'applied' });
  t.type(drain!.configVersion, 'number');
  t.match(ghost, { actor: { via: 'admin-api', address: '127.0.0.1' }, action: 'backend.drain', target: 'ghost', outcome: 'rejected' });
  t.match(stale, { action: 'config.replace', outcome: 'rejected', detail: /ETag/ });
  for (const e of entries) {
    const at = Date.parse(e.at);
    t.ok(at >= started - 1000 && at <= Date.now() + 1000, `${e.action} at ${e.at}`);
  }
  const all = (await (await vf.admin('/admin/audit')).json()) as AuditView;
  t.ok(all.entries.some((e) => e.action === 'config.replace' && e.outcome === 'applied'), 'earlier PUTs are listed too');
});

t.test('POST /admin/validate: every problem with its path, nothing applied', async (t) => {
  const before = await current();
  const bad = await vf.admin('/admin/validate', {
    method: 'POST',
    body: JSON.stringify({ pools: [{ name: 'web', algorithm: 'fastest', backends: [] }], routes: [{ path: 'nope', pool: 'api' }] }),
  });
  t.equal(bad.status, 422);
  const badBody = (await bad.json()) as { valid: boolean; problems: string[] };
  t.equal(badBody.valid, false);
  for (const path of ['pools[0].algorithm', 'pools[0].backends', 'routes[0].path', 'routes[0].pool']) {
    t.ok(badBody.problems.some((p) => p.startsWith(`${path}: `)), `a problem at ${path}`);
  }

  const good = await vf.admin('/admin/validate', { method: 'POST', body: JSON.stringify({ pools: [{ name: 'web', backends: [{ id: 'c', url: C.url }] }], routes: [{ path: '/', pool: 'web' }] }) });
  t.equal(good.status, 200);
  t.same(await good.json(), { valid: true, problems: [] });

  const after = await current();
  t.equal(after.etag, before.etag, 'ETag unchanged');
  t.equal(after.version, before.version, 'nothing sent to the workers');
  t.equal(await spread(10, ['A', 'B']), 'even', 'a valid dry run is not applied');
});
