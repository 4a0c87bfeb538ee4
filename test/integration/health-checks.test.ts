/**
 * Active health checks in a real VeloFlux (2 workers), proven by which upstream answers and what
 * each upstream received: a backend failing its /health stops getting traffic after the fall
 * threshold and gets it again after the rise threshold, a pool with none healthy answers 503,
 * backends added at runtime are probed before they are trusted, the state survives config
 * changes, and GET /admin/metrics shows it.
 */
import t from 'tap';
import { request } from 'node:http';
import { startVeloflux } from '../helpers/veloflux.js';
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/processes.js';

interface Checked extends Upstream {
  /** What /health answers. */
  health: number;
  /** Requests other than health probes. */
  traffic(): number;
  probes(): number;
}

/** An echo upstream whose /health answers a status the test sets, after `healthDelayMs`. */
async function checkedUpstream(healthDelayMs = 0): Promise<Checked> {
  const state = { health: 200 };
  const upstream = await startUpstream((req, res, seen) => {
    if (req.url === '/health') {
      const answer = () => {
        res.writeHead(state.health, { 'content-type': 'text/plain' });
        res.end();
      };
      if (healthDelayMs === 0) answer();
      else setTimeout(answer, healthDelayMs);
      return;
    }
    echo(req, res, seen);
  });
  return Object.defineProperties(upstream, {
    health: { get: () => state.health, set: (s: number) => (state.health = s) },
    traffic: { value: () => upstream.requests.filter((r) => r.url !== '/health').length },
    probes: { value: () => upstream.requests.filter((r) => r.url === '/health').length },
  }) as Checked;
}

const [A, B, C, D, E, F, G] = await Promise.all([checkedUpstream(), checkedUpstream(), checkedUpstream(), checkedUpstream(), checkedUpstream(), checkedUpstream(), checkedUpstream()]);
/** /health fails, but only after 300 ms: a probe that is slow to fail (a hung or distant backend). */
const [H, I] = await Promise.all([checkedUpstream(300), checkedUpstream(300)]);
H.health = 500;
I.health = 500;
const all = [A, B, C, D, E, F, G, H, I];
const names = new Map<number, string>(all.map((u, i) => [u.port, 'ABCDEFGHI'[i]!]));

const INTERVAL_MS = 150;
const healthCheck = { interval: `${INTERVAL_MS}ms`, timeout: '150ms', healthyThreshold: 2, unhealthyThreshold: 3 };
const webPool = (weights: { a?: number; b?: number } = {}) => ({
  name: 'web',
  healthCheck,
  backends: [
    { id: 'a', url: A.url, ...(weights.a === undefined ? {} : { weight: weights.a }) },
    { id: 'b', url: B.url, ...(weights.b === undefined ? {} : { weight: weights.b }) },
  ],
});
const config = (weights: { a?: number; b?: number } = {}) => ({
  pools: [
    webPool(weights),
    { name: 'plain', backends: [{ id: 'e', url: E.url }] },
    { name: 'cautious', healthCheck: { ...healthCheck, startHealthy: false }, backends: [{ id: 'g', url: G.url }] },
  ],
  routes: [
    { path: '/plain/', pool: 'plain' },
    { path: '/cautious/', pool: 'cautious' },
    { path: '/', pool: 'web' },
  ],
});

const vf = await startVeloflux(config(), { workers: 2 });
t.teardown(async () => {
  await vf.stop();
  await Promise.all(all.map((u) => u.close()));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One GET on a new connection (so both workers take turns): the upstream that answered, or the status and error code. */
function getOnce(path = '/'): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: vf.port, path, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        if (res.statusCode === 200) return resolve(names.get(Number(res.headers['x-upstream-port'])) ?? '?');
        let code = '';
        try {
          code = (JSON.parse(body) as { error?: { code?: string } }).error?.code ?? '';
        } catch {
          // Not a VeloFlux error body.
        }
        resolve(`${res.statusCode} ${code}`.trim());
      });
    });
    req.on('error', (err) => resolve(`error ${err.message}`));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Who answered `n` requests, each on a new connection: { A: 10, B: 10 }, or { '503 VF_ERR_…': 10 }. */
async function traffic(n = 20, path = '/'): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const who = await getOnce(path);
    counts[who] = (counts[who] ?? 0) + 1;
  }
  return counts;
}

/**
 * `even` when `n` requests went to exactly the upstreams named, evenly: each worker balances on
 * its own, so the total may be off by one per worker. Otherwise the counts, for the diff.
 */
async function spread(n: number, upstreams: string[]): Promise<string> {
  const counts = await traffic(n);
  const share = n / upstreams.length;
  const even = Object.keys(counts).sort().join() === [...upstreams].sort().join() && upstreams.every((u) => Math.abs(counts[u]! - share) <= 2);
  return even ? 'even' : JSON.stringify(counts);
}

interface BackendMetrics {
  id: string;
  healthy: boolean | null;
  lastProbe: { ok: boolean; status?: number; error?: string; at: string; durationMs: number } | null;
}

async function backendMetrics(): Promise<Map<string, BackendMetrics>> {
  const res = await vf.admin('/admin/metrics');
  const body = (await res.json()) as { pools: { name: string; backends: BackendMetrics[] }[] };
  return new Map(body.pools.flatMap((p) => p.backends.map((b) => [b.id, b])));
}

/** Polls the admin metrics until `id` is reported with `healthy`, then leaves the workers a moment to get the push. */
async function untilHealthy(id: string, healthy: boolean, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  for (;;) {
    if ((await backendMetrics()).get(id)?.healthy === healthy) break;
    if (Date.now() - start > timeoutMs) throw new Error(`${id} not reported healthy=${healthy} within ${timeoutMs} ms`);
    await sleep(20);
  }
  await sleep(50);
}

/** Polls the admin metrics until `id` has a probe result (it counts as it started before that). */
async function untilProbed(id: string, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  while ((await backendMetrics()).get(id)?.lastProbe == null) {
    if (Date.now() - start > timeoutMs) throw new Error(`${id} not probed within ${timeoutMs} ms`);
    await sleep(20);
  }
  await sleep(50);
}

async function put(body: unknown): Promise<void> {
  const res = await vf.admin('/admin/config', { method: 'PUT', body: JSON.stringify(body), headers: { 'if-match': '*' } });
  if (res.status !== 200) throw new Error(`PUT /admin/config: ${res.status} ${await res.text()}`);
}

t.test('both healthy backends serve', async (t) => {
  await untilHealthy('a', true);
  await untilHealthy('b', true);
  t.equal(await spread(20, ['A', 'B']), 'even');
});

t.test('a backend failing its /health gets no traffic after the fall threshold, and comes back after the rise threshold', async (t) => {
  B.health = 500;
  const failedFrom = B.probes();
  await untilHealthy('b', false);
  t.ok(B.probes() - failedFrom >= healthCheck.unhealthyThreshold, `out only after ${healthCheck.unhealthyThreshold} failed probes (${B.probes() - failedFrom} seen)`);
  const before = B.traffic();
  t.same(await traffic(40), { A: 40 }, 'every request answered, all by A');
  t.equal(B.traffic(), before, 'B received no request but probes, from either worker');

  B.health = 200;
  const passedFrom = B.probes();
  await untilHealthy('b', true);
  t.ok(B.probes() - passedFrom >= healthCheck.healthyThreshold, `back only after ${healthCheck.healthyThreshold} passing probes`);
  t.equal(await spread(20, ['A', 'B']), 'even', 'B serves its share again');
});

t.test('every backend unhealthy: 503 VF_ERR_NO_HEALTHY_UPSTREAM, and none of them is sent the request', async (t) => {
  A.health = 500;
  B.health = 500;
  await untilHealthy('a', false);
  await untilHealthy('b', false);
  const before = A.traffic() + B.traffic();
  t.same(await traffic(10), { '503 VF_ERR_NO_HEALTHY_UPSTREAM': 10 });
  t.equal(A.traffic() + B.traffic(), before);
  t.same(await traffic(4, '/plain/x'), { E: 4 }, 'another pool is unaffected');

  A.health = 200;
  await untilHealthy('a', true);
  t.same(await traffic(10), { A: 10 }, 'one back: it takes everything');
  B.health = 200;
  await untilHealthy('b', true);
});

t.test('a backend added at runtime is probed at once: a failing one never receives traffic, a passing one does', async (t) => {
  C.health = 500;
  const add = await vf.admin('/admin/pools/web/backends', { method: 'POST', body: JSON.stringify({ id: 'c', url: C.url }) });
  t.equal(add.status, 201);
  // Traffic right away, long before a fall threshold (3 probes) could have passed.
  const counts = await traffic(30);
  t.equal(C.traffic(), 0, 'C received no request but probes');
  t.same(Object.keys(counts).sort(), ['A', 'B'], `A and B answered everything: ${JSON.stringify(counts)}`);
  t.ok(C.probes() >= 1, 'C was probed');
  t.equal((await backendMetrics()).get('c')?.healthy, false);

  const addD = await vf.admin('/admin/pools/web/backends', { method: 'POST', body: JSON.stringify({ id: 'd', url: D.url }) });
  t.equal(addD.status, 201);
  await untilHealthy('d', true);
  const withD = await traffic(30);
  t.ok((withD.D ?? 0) >= 8, `D gets its share (${JSON.stringify(withD)})`);
  t.equal(C.traffic(), 0, 'C still none');

  for (const id of ['c', 'd']) t.equal((await vf.admin(`/admin/backends/${id}`, { method: 'DELETE' })).status, 200, `remove ${id}`);
  const probes = C.probes() + D.probes();
  await sleep(3 * INTERVAL_MS);
  t.ok(C.probes() + D.probes() <= probes + 2, 'removed backends are no longer probed');
  const metrics = await backendMetrics();
  t.notOk(metrics.has('c') || metrics.has('d'));
});

t.test('GET /admin/metrics: healthy and lastProbe per checked backend, null for a pool without healthCheck', async (t) => {
  B.health = 500;
  await untilHealthy('b', false);
  const metrics = await backendMetrics();
  const a = metrics.get('a')!;
  const b = metrics.get('b')!;
  t.equal(a.healthy, true);
  t.match(a.lastProbe, { ok: true, status: 200 });
  t.ok(Date.now() - Date.parse(a.lastProbe!.at) < 2000, 'the last probe is recent');
  t.type(a.lastProbe!.durationMs, 'number');
  t.equal(b.healthy, false);
  t.match(b.lastProbe, { ok: false, status: 500, error: 'unexpected status 500' });

  const e = metrics.get('e')!;
  t.equal(e.healthy, null, 'no health check: healthy is null');
  t.equal(e.lastProbe, null);
  t.equal(E.probes(), 0, 'and it is never probed');
  t.same(await traffic(6, '/plain/'), { E: 6 }, 'it serves');
  B.health = 200;
  await untilHealthy('b', true);
});

t.test('health state carries over a config change', async (t) => {
  B.health = 500;
  await untilHealthy('b', false);
  // New weights: b is the same backend with the same check, so it stays out at once.
  await put(config({ a: 1, b: 5 }));
  const before = B.traffic();
  t.same(await traffic(20), { A: 20 }, 'right after the change, still only A');
  t.equal(B.traffic(), before, 'B received nothing');
  t.equal((await backendMetrics()).get('b')?.healthy, false);

  B.health = 200;
  await untilHealthy('b', true);
  const counts = await traffic(24);
  t.ok((counts.B ?? 0) > (counts.A ?? 0), `back with its new weight (${JSON.stringify(counts)})`);
});

t.test('a backend moved to a new address is judged at the new address', async (t) => {
  B.health = 500;
  await untilHealthy('b', false);
  // b now points at F, which passes: it must come back (not stay out because it was out at B).
  const atB = B.traffic();
  const moved = config();
  moved.pools[0] = { ...webPool(), backends: [{ id: 'a', url: A.url }, { id: 'b', url: F.url }] };
  await put(moved);
  await untilHealthy('b', true);
  t.ok(F.probes() >= 1, 'F was probed');
  t.equal(await spread(20, ['A', 'F']), 'even', 'b serves from F');
  t.equal(B.traffic(), atB, 'nothing goes to the old address');
  B.health = 200;
  await put(config());
  await untilHealthy('b', true);
});

t.test('workers started later (rolling restart) get the current health state', async (t) => {
  B.health = 500;
  await untilHealthy('b', false);
  const res = await vf.admin('/admin/workers/restart', { method: 'POST' });
  t.equal(res.status, 200);
  t.same(await res.json(), { replaced: 2 });
  const before = B.traffic();
  t.same(await traffic(20), { A: 20 }, 'the new workers keep B out');
  t.equal(B.traffic(), before);
  B.health = 200;
  await untilHealthy('b', true);
  t.equal(await spread(20, ['A', 'B']), 'even', 'and follow it when it comes back');
});

t.test('startHealthy false: a backend added at runtime gets nothing until a probe passes, even a slow one', async (t) => {
  const add = await vf.admin('/admin/pools/cautious/backends', { method: 'POST', body: JSON.stringify({ id: 'h', url: H.url }) });
  t.equal(add.status, 201);
  t.same(await traffic(20, '/cautious/'), { G: 20 }, 'G answered everything while H was being probed');
  t.equal(H.traffic(), 0);
  await untilProbed('h');
  t.same(await traffic(10, '/cautious/'), { G: 10 });
  t.equal(H.traffic(), 0, 'nor after its probes failed');
  t.equal((await vf.admin('/admin/backends/h', { method: 'DELETE' })).status, 200);
});

// With the default startHealthy: true a backend added at runtime counts as healthy until its first
// probe result (as the config contract says); once that probe fails it gets nothing more.
t.test('a backend added at runtime with the default startHealthy is out as soon as its first probe fails', async (t) => {
  const add = await vf.admin('/admin/pools/web/backends', { method: 'POST', body: JSON.stringify({ id: 'i', url: I.url }) });
  t.equal(add.status, 201);
  await waitFor(() => vf.logs().some((l) => l.msg === 'backend unhealthy' && l.backend === 'i'), 5000, 'its first probe to fail');
  await new Promise((r) => setTimeout(r, 100));
  const before = I.traffic();
  await traffic(20);
  t.equal(I.traffic(), before, 'after its first failed probe it receives no request');
  t.equal((await vf.admin('/admin/backends/i', { method: 'DELETE' })).status, 200);
});
