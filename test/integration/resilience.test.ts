/**
 * Circuit breaking, retry budget, sticky sessions and the drain deadline through a real VeloFlux
 * and real upstreams.
 */
import t from 'tap';
import { request } from 'node:http';
import { startUpstream, closedPort, type Upstream } from '../helpers/upstream.js';
import { startVeloflux } from '../helpers/veloflux.js';
import { waitFor } from '../helpers/processes.js';

/** A GET on a fresh connection: status, body, headers. */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const named = (name: string) => async (): Promise<Upstream> =>
  startUpstream((req, res) => {
    req.resume();
    req.on('end', () => res.end(name));
  });

t.test('circuit breaker: requests beyond connections + pending get 503 at once, and it closes after', async (t) => {
  const releases: (() => void)[] = [];
  const slow = await startUpstream((req, res) => {
    req.resume();
    releases.push(() => res.end('done'));
  });
  const vf = await startVeloflux(
    {
      pools: [{ name: 'slow', maxConnectionsPerBackend: 2, circuitBreaker: { maxPendingPerBackend: 1 }, backends: [{ id: 's', url: slow.url }] }],
      routes: [{ path: '/', pool: 'slow' }],
    },
    { workers: 1 },
  );
  t.teardown(async () => {
    await vf.stop();
    await slow.close();
  });
  const held = [get(vf.port, '/1'), get(vf.port, '/2'), get(vf.port, '/3')];
  await waitFor(() => slow.requests.length === 2, 3000, 'two requests on the two connections');
  const started = Date.now();
  const rejected = await get(vf.port, '/4');
  t.equal(rejected.status, 503, 'the fourth request is refused');
  t.match(JSON.parse(rejected.body), { error: { code: 'VF_ERR_CIRCUIT_OPEN' } });
  t.ok(Date.now() - started < 500, 'at once, not after queueing');
  t.equal(slow.requests.length, 2, 'the backend never saw it');
  while (slow.requests.length < 3 || releases.length > 0) {
    releases.shift()?.();
    await new Promise((r) => setTimeout(r, 20));
  }
  const done = await Promise.all(held);
  t.same(done.map((r) => r.status), [200, 200, 200], 'the queued one ran once a connection was free');
  const closedAgain = get(vf.port, '/5');
  await waitFor(() => releases.length === 1, 3000, 'the next request to reach the backend');
  releases.shift()!();
  t.equal((await closedAgain).status, 200, 'the breaker closes once the backend has room again');
});

t.test('retry budget: with no budget, a failed GET is not retried', async (t) => {
  const good = await named('good')();
  const dead = await closedPort();
  const pool = (retryBudget: Record<string, number>) => ({
    name: 'web',
    algorithm: 'round_robin',
    retries: 1,
    retryBudget,
    backends: [
      { id: 'dead', url: `http://127.0.0.1:${dead}` },
      { id: 'good', url: good.url },
    ],
  });
  const vf = await startVeloflux({ pools: [pool({ percent: 0, minRetriesConcurrent: 0 })], routes: [{ path: '/', pool: 'web' }] }, { workers: 1 });
  t.teardown(async () => {
    await vf.stop();
    await good.close();
  });
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await get(vf.port, '/')).status);
  t.same(statuses.sort(), [200, 200, 502, 502], 'requests to the dead backend fail: no budget for a retry');

  const current = await vf.admin('/admin/config');
  const body = JSON.stringify({ pools: [pool({ percent: 20, minRetriesConcurrent: 3 })], routes: [{ path: '/', pool: 'web' }] });
  t.equal((await vf.admin('/admin/config', { method: 'PUT', body, headers: { 'if-match': current.headers.get('etag')! } })).status, 200);
  const after = [];
  for (let i = 0; i < 4; i++) after.push((await get(vf.port, '/')).status);
  t.same(after, [200, 200, 200, 200], 'with the default budget the same failures are retried');
});

t.test('sticky sessions: the cookie pins a client; tampering and unavailable backends fall back', async (t) => {
  const upstreams = await Promise.all(['a', 'b', 'c'].map((n) => named(n)()));
  const vf = await startVeloflux(
    {
      // Ids long enough that a random token cannot contain one by chance (`b1` could).
      pools: [{ name: 'web', sticky: { cookie: 'vf_s', maxAge: '1h' }, backends: upstreams.map((u, i) => ({ id: `sticky-backend-${i}`, url: u.url })) }],
      routes: [{ path: '/', pool: 'web' }],
    },
    { workers: 2 },
  );
  t.teardown(async () => {
    await vf.stop();
    await Promise.all(upstreams.map((u) => u.close()));
  });
  const first = await get(vf.port, '/');
  const setCookie = String(first.headers['set-cookie']);
  t.match(setCookie, /^vf_s=[A-Za-z0-9_-]{27}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=3600$/);
  t.notMatch(setCookie, /127\.0\.0\.1|sticky-backend/, 'the cookie reveals neither address nor id');
  const cookie = setCookie.split(';')[0]!;

  const seen = new Set<string>();
  let resent = 0;
  for (let i = 0; i < 1000; i++) {
    const res = await get(vf.port, '/', { cookie: `other=1; ${cookie}` });
    seen.add(res.body);
    if (res.headers['set-cookie'] !== undefined) resent++;
  }
  t.same([...seen], [first.body], '1000 requests with the cookie land on one backend, over both workers');
  t.equal(resent, 0, 'a pinned client is not sent the cookie again');

  const tampered = `${cookie.slice(0, -1)}${cookie.endsWith('A') ? 'B' : 'A'}`;
  const spread = new Set<string>();
  for (let i = 0; i < 9; i++) {
    const res = await get(vf.port, '/', { cookie: tampered });
    spread.add(res.body);
    t.ok(res.headers['set-cookie'] !== undefined, 'a tampered cookie is replaced');
  }
  t.equal(spread.size, 3, 'a tampered cookie is ignored: the balancer decides');

  // Drain the pinned backend: the client moves and gets a new cookie.
  const pinnedId = `sticky-backend-${['a', 'b', 'c'].indexOf(first.body)}`;
  t.equal((await vf.admin(`/admin/backends/${pinnedId}/drain`, { method: 'POST' })).status, 200);
  const moved = await get(vf.port, '/', { cookie });
  t.not(moved.body, first.body, 'an unavailable pinned backend falls back to the balancer');
  t.match(String(moved.headers['set-cookie']), /^vf_s=/, 'and the client is pinned anew');
});

t.test('drain deadline: a removed backend keeps its in-flight request until the deadline, then it is cut', async (t) => {
  const slow = await startUpstream((req, res) => {
    req.resume();
    const ms = Number(new URL(req.url!, 'http://x').searchParams.get('ms'));
    setTimeout(() => res.end(`after ${ms}`), ms);
  });
  const other = await named('other')();
  const vf = await startVeloflux(
    {
      server: { timeouts: { drain: '800ms' } },
      pools: [{ name: 'web', backends: [{ id: 'slow', url: slow.url }] }, { name: 'other', backends: [{ id: 'other', url: other.url }] }],
      routes: [{ path: '/', pool: 'web' }],
    },
    { workers: 1 },
  );
  t.teardown(async () => {
    await vf.stop();
    await slow.close();
    await other.close();
  });
  const quick = get(vf.port, '/?ms=300');
  const long = get(vf.port, '/?ms=3000').then(
    (r) => `${r.status} ${r.body}`,
    () => 'cut off',
  );
  await waitFor(() => slow.requests.length === 2, 3000, 'both requests in flight');
  const current = await vf.admin('/admin/config');
  const body = JSON.stringify({ pools: [{ name: 'other', backends: [{ id: 'other', url: other.url }] }], routes: [{ path: '/', pool: 'other' }] });
  t.equal((await vf.admin('/admin/config', { method: 'PUT', body, headers: { 'if-match': current.headers.get('etag')! } })).status, 200, 'the backend is removed');
  t.equal((await get(vf.port, '/')).body, 'other', 'new requests go to the new config');
  t.same(await quick, { status: 200, body: 'after 300', headers: (await quick).headers }, 'an in-flight request within the deadline completes');
  const started = Date.now();
  t.match(await long, /^502 .*VF_ERR_UPSTREAM_BAD_RESPONSE/, 'one still running at the deadline is ended with a 502 (its upstream connection was closed)');
  t.ok(Date.now() - started < 1500, 'at the deadline, not when the backend would have answered');
});
