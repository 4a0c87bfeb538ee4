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
