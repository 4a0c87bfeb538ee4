import t, { type Test } from 'tap';
import { RandomBalancer } from '../../../src/workers/balancers/random.js';
import { countPicks, makePool, pickContext } from './fixtures/pool.js';

const context = pickContext();
const PICKS = 10_000;

/** Asserts each share is within ±3 percentage points of its weight's share. */
function assertShares(t: Test, counts: Record<string, number>, expected: Record<string, number>): void {
  const totalWeight = Object.values(expected).reduce((sum, weight) => sum + weight, 0);
  const picks = Object.values(counts).reduce((sum, count) => sum + count, 0);
  t.same(Object.keys(counts).sort(), Object.keys(expected).sort(), 'only the expected backends are picked');
  for (const [id, weight] of Object.entries(expected)) {
    const share = (counts[id] ?? 0) / picks;
    t.ok(Math.abs(share - weight / totalWeight) < 0.03, `${id}: share ${share.toFixed(4)} vs ${(weight / totalWeight).toFixed(4)}`);
  }
}

t.test('honours weights over 10k picks within 3%', async (t) => {
  const balancer = new RandomBalancer(makePool([5, 1, 1]));
  assertShares(t, countPicks(balancer, PICKS), { a: 5, b: 1, c: 1 });
});

t.test('never picks unhealthy or zero-weight backends', async (t) => {
  const pool = makePool([5, 0, 1, 2]);
  const balancer = new RandomBalancer(pool);
  balancer.setHealthy(pool[0]!, false);
  t.equal(pool[0]!.healthy, false);
  assertShares(t, countPicks(balancer, PICKS), { c: 1, d: 2 });
  balancer.setHealthy(pool[0]!, true);
  balancer.setWeight(pool[1]!, 2);
  t.equal(pool[1]!.weight, 2);
  assertShares(t, countPicks(balancer, PICKS), { a: 5, b: 2, c: 1, d: 2 });
});

t.test('skips excluded backends, keeping the others weighted', async (t) => {
  const pool = makePool([5, 3, 1]);
  const balancer = new RandomBalancer(pool);
  assertShares(t, countPicks(balancer, PICKS, context, [pool[0]!]), { b: 3, c: 1 });
  t.same(countPicks(balancer, 100, context, [pool[0]!, pool[1]!]), { c: 100 });
});

t.test('returns undefined when nothing is available', async (t) => {
  const pool = makePool([1, 1]);
  const balancer = new RandomBalancer(pool);
  t.equal(balancer.pick(context, pool), undefined);
  balancer.setHealthy(pool[0]!, false);
  balancer.setWeight(pool[1]!, 0);
  t.equal(balancer.pick(context), undefined);
  t.equal(new RandomBalancer([]).pick(context), undefined);
});

t.test('a health change made without setHealthy is caught and never picked', async (t) => {
  const pool = makePool([1, 1, 1]);
  const balancer = new RandomBalancer(pool);
  pool[0]!.healthy = false;
  t.same(Object.keys(countPicks(balancer, 1000)).sort(), ['b', 'c']);
  balancer.setHealthy(pool[1]!, false);
  balancer.setHealthy(pool[2]!, false);
  t.equal(balancer.pick(context), undefined);
  pool[0]!.healthy = true;
  t.same(countPicks(balancer, 100), { a: 100 });
});
