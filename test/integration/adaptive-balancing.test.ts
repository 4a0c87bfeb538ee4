/**
 * algorithm: adaptive through a real VeloFlux and real upstreams (issue 18): when one of three
 * backends turns slow, adaptive sends it a small share of new requests within a second or two,
 * while round_robin keeps sending it a third. Shares are asserted with wide margins, not timings.
 */
import t, { type Test } from 'tap';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { startVeloflux } from '../helpers/veloflux.js';
import { pacedLoad } from '../helpers/paced-load.js';

/** How long the slow backend takes to answer once slowed down. */
const SLOW_MS = 150;
const RATE = 100;

interface Backend {
  readonly upstream: Upstream;
  /** performance.now() of every request the backend received. */
  readonly arrivals: number[];
  slow: boolean;
}

async function startBackend(): Promise<Backend> {
  const arrivals: number[] = [];
  const backend: Backend = {
    arrivals,
    slow: false,
    upstream: await startUpstream((req, res) => {
      arrivals.push(performance.now());
      req.resume();
      req.on('end', () => {
        if (backend.slow) setTimeout(() => res.end('slow'), SLOW_MS);
        else res.end('fast');
      });
    }),
  };
  return backend;
}

/** Share of the requests received from `since` on that went to each backend. */
function sharesSince(backends: readonly Backend[], since: number): number[] {
  const counts = backends.map((b) => b.arrivals.filter((at) => at >= since).length);
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => c / total);
}

/**
 * Warms up with all backends fast, then slows down the one that got the most requests (so its
 * share can visibly fall), keeps the same load on, and returns that backend's share of requests
 * before, and from one second after the slow-down on.
 */
async function slowShare(t: Test, algorithm: string): Promise<{ before: number; after: number; all: string }> {
  const backends = [await startBackend(), await startBackend(), await startBackend()];
  const vf = await startVeloflux(
    {
      pools: [{ name: 'web', algorithm, retries: 0, backends: backends.map((b, i) => ({ id: `b${i}`, url: b.upstream.url })) }],
      routes: [{ path: '/', pool: 'web' }],
    },
    { workers: 1 },
  );
  t.teardown(async () => {
    await vf.stop();
    for (const b of backends) await b.upstream.close();
  });
  const load = { ports: [vf.port], path: '/', ratePerSecond: RATE, connectionsPerPort: 30 };
  const warm = await pacedLoad({ ...load, seconds: 2 });
  t.same(Object.keys(warm.counts), ['200'], 'warm-up: every answer 200');
  const before = sharesSince(backends, 0);
  const slow = before.indexOf(Math.max(...before));
  backends[slow]!.slow = true;
  const slowedAt = performance.now();
  const run = await pacedLoad({ ...load, seconds: 5 });
  t.same(Object.keys(run.counts), ['200'], 'slowed: every answer still 200');
  const after = sharesSince(backends, slowedAt + 1000);
  const all = `shares before ${before.map((s) => s.toFixed(2))}, after ${after.map((s) => s.toFixed(2))}; b${slow} slowed`;
  return { before: before[slow]!, after: after[slow]!, all };
}

t.test('adaptive: a backend that turns slow soon gets a small share of new requests', async (t) => {
  const { before, after, all } = await slowShare(t, 'adaptive');
  t.comment(all);
  // `before` is at least a third: the busiest backend is the one slowed down.
  t.ok(after < 0.1, `its share fell from ${before.toFixed(3)} to less than a tenth (${after.toFixed(3)})`);
});

t.test('round_robin: the slow backend keeps its third', async (t) => {
  const { before, after, all } = await slowShare(t, 'round_robin');
  t.comment(all);
  t.ok(after > 0.3, `it still gets a third (${after.toFixed(3)})`);
  t.ok(Math.abs(after - before) < 0.05, `as before (${before.toFixed(3)})`);
});
