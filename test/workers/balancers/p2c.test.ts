import t from 'tap';
import { P2cBalancer } from '../../../src/workers/balancers/p2c.js';
import { countPicks, makePool, pickContext } from './fixtures/pool.js';

const context = pickContext();

t.test('never picks the one loaded backend when there are 3 or more', async (t) => {
  for (const size of [3, 5]) {
    const pool = makePool(new Array<number>(size).fill(1));
    pool[0]!.stats.inFlight = 100;
    const counts = countPicks(new P2cBalancer(pool), 10_000);
    t.equal(counts.a, undefined, `${size} backends`);
  }
});

t.test('with two backends always picks the less loaded, per unit of weight', async (t) => {
  const pool = makePool([4, 1]);
  pool[0]!.stats.inFlight = 4; // 1 per unit of weight
  pool[1]!.stats.inFlight = 2; // 2 per unit of weight
  t.same(countPicks(new P2cBalancer(pool), 1000), { a: 1000 });
});

t.test('spreads evenly over equally loaded backends', async (t) => {
  const counts = countPicks(new P2cBalancer(makePool([1, 1, 1])), 10_000);
  for (const id of ['a', 'b', 'c']) {
    t.ok(Math.abs((counts[id] ?? 0) / 10_000 - 1 / 3) < 0.03, `${id}: ${counts[id]}`);
  }
});

t.test('balances load when requests never finish', async (t) => {
  const pool = makePool([1, 1, 1, 1]);
  const balancer = new P2cBalancer(pool);
  for (let i = 0; i < 4000; i++) balancer.pick(context)!.stats.inFlight++;
  for (const backend of pool) t.ok(Math.abs(backend.stats.inFlight - 1000) <= 10, `${backend.id}: ${backend.stats.inFlight}`);
});

t.test('never picks unhealthy or zero-weight backends', async (t) => {
  const pool = makePool([1, 0, 1, 1]);
  const balancer = new P2cBalancer(pool);
  balancer.setHealthy(pool[0]!, false);
  t.equal(pool[0]!.healthy, false);
  t.same(Object.keys(countPicks(balancer, 1000)).sort(), ['c', 'd']);
  balancer.setWeight(pool[1]!, 1);
  t.equal(pool[1]!.weight, 1);
  t.same(Object.keys(countPicks(balancer, 1000)).sort(), ['b', 'c', 'd']);
  balancer.setWeight(pool[2]!, 0);
  balancer.setWeight(pool[3]!, 0);
  t.same(countPicks(balancer, 100), { b: 100 });
});

t.test('skips excluded backends and still prefers the less loaded', async (t) => {
  const pool = makePool([1, 1, 1, 1]);
  pool[1]!.stats.inFlight = 100;
  const balancer = new P2cBalancer(pool);
  const counts = countPicks(balancer, 10_000, context, [pool[0]!]);
  t.same(Object.keys(counts).sort(), ['c', 'd']);
  t.same(countPicks(balancer, 100, context, [pool[0]!, pool[2]!, pool[3]!]), { b: 100 });
});

t.test('returns undefined when nothing is available', async (t) => {
  const pool = makePool([1, 1]);
  const balancer = new P2cBalancer(pool);
  t.equal(balancer.pick(context, pool), undefined);
  balancer.setHealthy(pool[0]!, false);
  balancer.setHealthy(pool[1]!, false);
  t.equal(balancer.pick(context), undefined);
  t.equal(new P2cBalancer([]).pick(context), undefined);
});

t.test('a health change made without setHealthy is caught and never picked', async (t) => {
  const pool = makePool([1, 1, 1]);
  const balancer = new P2cBalancer(pool);
  pool[0]!.healthy = false;
  pool[1]!.weight = 0;
  t.same(countPicks(balancer, 1000), { c: 1000 });
  balancer.setHealthy(pool[2]!, false);
  t.equal(balancer.pick(context), undefined);
  pool[0]!.healthy = true;
  t.same(countPicks(balancer, 100), { a: 100 });
});
