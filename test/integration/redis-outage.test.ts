/**
 * Redis going away must not stop proxying: two instances on one real Redis carry a steady load
 * while Redis is killed for 10 s. No request fails, latency does not move, state writes fail fast
 * with VF_ERR_STATE_UNAVAILABLE, and when Redis comes back (empty: no persistence) the instances
 * re-seed it and converge again on their own.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { Pool } from 'undici';
import { startRedis } from '../helpers/redis.js';
import { startUpstream } from '../helpers/upstream.js';
import { startVeloflux, type RunningVeloflux } from '../helpers/veloflux.js';

const OUTAGE_MS = 10_000;

interface Sample {
  at: number;
  ms: number;
  status: number;
}

/** Closed-loop load: `concurrency` keep-alive requests in flight against each instance until stopped. */
function load(instances: RunningVeloflux[], concurrency: number) {
  const samples: Sample[] = [];
  let running = true;
  const pools = instances.map((vf) => new Pool(vf.url, { connections: concurrency }));
  const loops = pools.flatMap((pool) =>
    Array.from({ length: concurrency }, async () => {
      while (running) {
        const started = performance.now();
        let status = 0;
        try {
          const res = await pool.request({ method: 'GET', path: '/' });
          await res.body.dump();
          status = res.statusCode;
        } catch {
          status = -1;
        }
        samples.push({ at: started, ms: performance.now() - started, status });
        // A steady, moderate rate (about 200 req/s per loop at most), not saturation: on 2 cores a
        // saturated p99 measures the scheduler, not VeloFlux.
        await new Promise((r) => setTimeout(r, 5));
      }
    }),
  );
  return {
    samples,
    async stop() {
      running = false;
      await Promise.all(loops);
      await Promise.all(pools.map((p) => p.close()));
    },
  };
}

function p99(samples: Sample[]): number {
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? NaN;
}

async function until(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (!(await probe())) {
    if (performance.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - started;
}

t.test('Redis down for 10 s under load: no proxy errors, flat latency, fast write failures, convergence after', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const upstreamA = await startUpstream((_req, res) => res.end('A'));
  const upstreamB = await startUpstream((_req, res) => res.end('B'));
  t.teardown(() => Promise.all([upstreamA.close(), upstreamB.close()]));
  const config = {
    server: { redis: { url: redis.url, keyPrefix: `vf-${randomBytes(3).toString('hex')}:`, commandTimeout: '300ms' } },
    pools: [{ name: 'web', backends: [{ id: 'a', url: upstreamA.url }] }],
    routes: [{ path: '/', pool: 'web' }],
  };
  const a = await startVeloflux(config, { workers: 1 });
  const b = await startVeloflux(config, { workers: 1 });
  t.teardown(() => Promise.all([a, b].map((vf) => vf.process.exitCode === null && vf.stop())));
  const configOf = async (vf: RunningVeloflux) => JSON.stringify(await (await vf.admin('/admin/config')).json());
  const healthOf = async (vf: RunningVeloflux) => (await (await vf.admin('/admin/health')).json()) as { status: string; state: { available: boolean } };

  // Some shared state to lose and get back: a backend added through A.
  t.equal((await a.admin('/admin/pools/web/backends', { method: 'POST', body: JSON.stringify({ id: 'b', url: upstreamB.url }) })).status, 201);
  await until('B follows A', 2000, async () => (await configOf(b)) === (await configOf(a)));
  const before = await configOf(a);

  const traffic = load([a, b], 3);
  const loadStart = performance.now();
  await new Promise((r) => setTimeout(r, 3000));
  const outageStart = performance.now();
  await redis.stop();

  await until('both instances notice', 3000, async () => (await healthOf(a)).state.available === false && (await healthOf(b)).state.available === false);
  t.match(await healthOf(a), { status: 'degraded', state: { available: false } }, 'health says degraded, still 200 for probes');

  const writeStarted = performance.now();
  const refused = await a.admin('/admin/backends/a/drain', { method: 'POST' });
  const writeMs = performance.now() - writeStarted;
  t.equal(refused.status, 503, 'a state write fails');
  t.equal(((await refused.json()) as { error: { code: string } }).error.code, 'VF_ERR_STATE_UNAVAILABLE');
  t.ok(writeMs < 1000, `and fails fast (${writeMs.toFixed(0)} ms; command timeout 300 ms)`);
  t.equal(await configOf(a), before, 'the refused change is not applied');

  await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (performance.now() - outageStart))));
  const outageEnd = performance.now();
  await redis.start();
  const recovered = await until('both instances see Redis again', 2000, async () => (await healthOf(a)).status === 'up' && (await healthOf(b)).status === 'up');
  t.pass(`both report the state store available ${recovered.toFixed(0)} ms after Redis restarted`);
  await new Promise((r) => setTimeout(r, 1000));
  await traffic.stop();

  // The first second warms up connections and the JIT.
  const baseline = traffic.samples.filter((s) => s.at >= loadStart + 1000 && s.at < outageStart);
  const during = traffic.samples.filter((s) => s.at >= outageStart && s.at < outageEnd);
  const failed = traffic.samples.filter((s) => s.status !== 200);
  t.ok(during.length > 500, `${during.length} requests during the outage (${baseline.length} before)`);
  t.equal(failed.length, 0, `no proxy errors in ${traffic.samples.length} requests`);
  const added = p99(during) - p99(baseline);
  t.ok(added < 10, `p99 ${p99(baseline).toFixed(2)} ms before, ${p99(during).toFixed(2)} ms during the outage (+${added.toFixed(2)} ms, < 10)`);

  // Redis came back empty; the instances re-seeded it with the config in force: a new instance gets it.
  const c = await startVeloflux(config, { workers: 1 });
  t.teardown(() => c.process.exitCode === null && c.stop());
  t.equal(await configOf(c), before, 'an instance started after the outage gets the runtime config from the re-seeded Redis');

  // And sync works again.
  const drained = await b.admin('/admin/backends/a/drain', { method: 'POST' });
  t.equal(drained.status, 200, 'writes work again');
  const converged = await until('A follows a change made through B', 2000, async () => (await configOf(a)) === (await configOf(b)));
  t.pass(`A converged ${converged.toFixed(0)} ms after the write through B`);
  const body = JSON.parse(await configOf(a)) as { pools: { backends: { id: string; drain?: boolean }[] }[] };
  t.same(body.pools[0]!.backends.map((x) => [x.id, x.drain ?? false]), [['a', true], ['b', false]], 'the backend added before the outage survived it, and the new drain is on top');
});

t.test('a write refused during a Redis outage changes nothing anywhere, not even briefly: no traffic shift, no configVersion', async (t) => {
  // Issue 13: the drain used to be applied on the workers before the save failed and rolled back
  // after it, so each refused attempt moved traffic for a moment and used up two configVersions.
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const upstreamA = await startUpstream((_req, res) => res.end('A'));
  const upstreamB = await startUpstream((_req, res) => res.end('B'));
  t.teardown(() => Promise.all([upstreamA.close(), upstreamB.close()]));
  const vf = await startVeloflux(
    {
      server: { redis: { url: redis.url, keyPrefix: `vf-${randomBytes(3).toString('hex')}:`, commandTimeout: '300ms' } },
      pools: [{ name: 'web', algorithm: 'round_robin', backends: [{ id: 'a', url: upstreamA.url }, { id: 'b', url: upstreamB.url }] }],
      routes: [{ path: '/', pool: 'web' }],
    },
    { workers: 1 },
  );
  t.teardown(() => vf.process.exitCode === null && vf.stop());
  const health = async () => (await (await vf.admin('/admin/health')).json()) as { state: { available: boolean }; configVersion: number };

  await redis.stop();
  await until('the instance notices', 3000, async () => (await health()).state.available === false);
  const versionBefore = (await health()).configVersion;

  // One request at a time through one worker: round robin answers A, B, A, B... as long as
  // nothing changes; a drain served even for a moment shows as B, B.
  const answers: string[] = [];
  const pool = new Pool(vf.url, { connections: 1 });
  t.teardown(() => pool.close());
  // A drain attempt every 20 requests, each refused: ten chances to see a brief shift.
  const drainSentAt = 20;
  const attempts: Promise<Response>[] = [];
  const started = performance.now();
  while (answers.length < drainSentAt + 200) {
    if (answers.length >= drainSentAt && answers.length % 20 === 0) attempts.push(vf.admin('/admin/backends/a/drain', { method: 'POST' }));
    const res = await pool.request({ method: 'GET', path: '/' });
    answers.push(await res.body.text());
  }
  const elapsed = performance.now() - started;
  const refused = await Promise.all(attempts);
  t.same(refused.map((r) => r.status), Array(10).fill(503), 'every drain attempt is refused: the state store is unavailable');
  t.equal(((await refused[0]!.json()) as { error: { code: string } }).error.code, 'VF_ERR_STATE_UNAVAILABLE');

  const window = answers.slice(drainSentAt - 1);
  const shifts = window.filter((answer, i) => i > 0 && answer === window[i - 1]).length;
  t.equal(shifts, 0, `the 200 requests from the drain on (${elapsed.toFixed(0)} ms for all ${answers.length}) alternate A, B without one shift`);
  t.same([window.filter((a) => a === 'A').length, window.filter((a) => a === 'B').length].sort(), [100, 101], 'a still gets its share');
  t.equal((await health()).configVersion, versionBefore, `configVersion unchanged (${versionBefore})`);
});
