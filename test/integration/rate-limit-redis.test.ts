/**
 * One global rate limit held by 2 VeloFlux instances × 2 workers sharing a real Redis: under an
 * offered 3R spread over both instances, the cluster accepts R within 5%; the same holds with the
 * load all on one instance (shares follow demand); and with Redis gone, each instance falls back to
 * its local share (R / 2 here) instead of failing or letting everything through, and converges
 * back to the shared rate once Redis returns.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { pacedLoad } from '../helpers/paced-load.js';
import { startRedis } from '../helpers/redis.js';
import { startUpstream } from '../helpers/upstream.js';
import { startVeloflux } from '../helpers/veloflux.js';

const R = 200;
const BURST = 20;
const SECONDS = 5;

const redis = await startRedis();
t.teardown(() => redis.stop());
const upstream = await startUpstream((_req, res) => res.end('ok'));
t.teardown(() => upstream.close());
const config = {
  server: { redis: { url: redis.url, keyPrefix: `vf-${randomBytes(3).toString('hex')}:` } },
  pools: [{ name: 'web', backends: [{ id: 'u', url: upstream.url }] }],
  routes: [{ path: '/', pool: 'web', rateLimit: 'global' }],
  rateLimits: [{ name: 'global', key: 'route', rate: R, burst: BURST }],
};
const a = await startVeloflux(config, { workers: 2 });
const b = await startVeloflux(config, { workers: 2 });
t.teardown(() => Promise.all([a.stop(), b.stop()]));

/**
 * The steady-state accepted rate: 200s per second of sending, leaving out the first second (the
 * burst, and each instance starting from its own share until they have exchanged demand).
 */
function acceptedRate(okPerSecond: number[]): number {
  const steady = okPerSecond.slice(1);
  return steady.reduce((a, b) => a + b, 0) / steady.length;
}

t.test(`2 instances x 2 workers hold ${R}/s within 5% under ${3 * R}/s offered to both`, async (t) => {
  const { counts, okPerSecond } = await pacedLoad({ ports: [a.port, b.port], path: '/x', ratePerSecond: 3 * R, seconds: SECONDS, connectionsPerPort: 6 });
  const rate = acceptedRate(okPerSecond);
  t.same(Object.keys(counts).sort(), ['200', '429'], `only 200s and 429s: ${JSON.stringify(counts)}`);
  t.ok(Math.abs(rate - R) / R <= 0.05, `accepted ${rate.toFixed(1)}/s (per second: ${okPerSecond.join(', ')}): within 5% of ${R}/s`);
});

t.test('with all the load on one instance, that instance gets (nearly) the whole rate', async (t) => {
  // Let the previous test's demand age out of Redis (1 s) so this one starts clean.
  await new Promise((r) => setTimeout(r, 1500));
  const { counts, okPerSecond } = await pacedLoad({ ports: [a.port], path: '/y', ratePerSecond: 3 * R, seconds: SECONDS, connectionsPerPort: 6 });
  const rate = acceptedRate(okPerSecond);
  // The idle instance keeps a sliver (its epsilon) unused, and the first 100 ms run on default shares.
  t.ok(rate >= R * 0.9 && rate <= R * 1.05, `accepted ${rate.toFixed(1)}/s of ${R}/s through one instance: ${JSON.stringify(counts)}`);
});

t.test('Redis down: each instance holds its local share, and the proxy keeps serving', async (t) => {
  await redis.stop();
  t.teardown(async () => {
    if (!redis.running) await redis.start();
  });
  // The exchange notices on its next tick; give shares the time to expire back to the fallback.
  await new Promise((r) => setTimeout(r, 1500));
  const { counts, okPerSecond } = await pacedLoad({ ports: [a.port], path: '/z', ratePerSecond: 3 * R, seconds: SECONDS, connectionsPerPort: 6 });
  const rate = acceptedRate(okPerSecond);
  t.same(Object.keys(counts).sort(), ['200', '429'], `only 200s and 429s: ${JSON.stringify(counts)}`);
  t.ok(Math.abs(rate - R / 2) / (R / 2) <= 0.1, `accepted ${rate.toFixed(1)}/s through one of 2 instances: its local share of ${R / 2}/s`);
});

t.test('Redis back: within 2 s the instances share the global rate again', async (t) => {
  if (!redis.running) await redis.start();
  await new Promise((r) => setTimeout(r, 2000));
  const { counts, okPerSecond } = await pacedLoad({ ports: [a.port, b.port], path: '/w', ratePerSecond: 3 * R, seconds: SECONDS, connectionsPerPort: 6 });
  const rate = acceptedRate(okPerSecond);
  t.ok(Math.abs(rate - R) / R <= 0.05, `accepted ${rate.toFixed(1)}/s: within 5% of ${R}/s again (${JSON.stringify(counts)})`);
});
