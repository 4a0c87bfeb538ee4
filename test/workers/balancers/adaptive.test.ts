import t from 'tap';
import { AdaptiveBalancer } from '../../../src/workers/balancers/adaptive.js';
import { Backend } from '../../../src/workers/runtime/backend.js';
import { countPicks, makePool, pickContext } from './fixtures/pool.js';

const context = pickContext();
const OPTIONS = { decayMs: 10_000, defaultRttMs: 30 };

/** A settable clock in milliseconds, so costs decay exactly as the expected values assume. */
function manualClock(): { now: number; read: () => number } {
  const clock = { now: 0, read: () => clock.now };
  return clock;
}

t.test('new backends start at the default cost, which decays', async (t) => {
  const clock = manualClock();
  const pool = makePool([1, 1]);
  const balancer = new AdaptiveBalancer(pool, OPTIONS, clock.read);
  t.equal(balancer.costOf(pool[0]!, 0), 30);
  t.ok(Math.abs(balancer.costOf(pool[0]!, 10_000) - 11.036383235) < 1e-6, '30·e^-1 one τ later');
});

t.test('with two backends picks the lower cost × (in-flight + 1), hand-computed', async (t) => {
  const clock = manualClock();
  const pool = makePool([1, 1]);
  const balancer = new AdaptiveBalancer(pool, OPTIONS, clock.read);
  clock.now = 1000;
  balancer.onEnd(pool[0]!, 40); // a: peak 40
  balancer.onEnd(pool[1]!, 45); // b: peak 45
  t.same(countPicks(balancer, 100), { a: 100 }, 'a: 40·1 < b: 45·1');
  pool[0]!.stats.inFlight = 1;
  t.same(countPicks(balancer, 100), { b: 100 }, 'a: 40·2 = 80 > b: 45·1');
  pool[1]!.stats.inFlight = 1;
  t.same(countPicks(balancer, 100), { a: 100 }, 'a: 80 < b: 45·2 = 90');
});

t.test('loads are compared per unit of weight', async (t) => {
  const clock = manualClock();
  const pool = makePool([2, 1]);
  const balancer = new AdaptiveBalancer(pool, OPTIONS, clock.read);
  balancer.onEnd(pool[0]!, 40);
  balancer.onEnd(pool[1]!, 35);
  pool[0]!.stats.inFlight = 1;
  // a: 40·2 / 2 = 40 > b: 35·1 / 1 = 35
  t.same(countPicks(balancer, 100), { b: 100 });
  balancer.onEnd(pool[1]!, 41);
  // b's peak 41 > a's 40 per unit of weight
  t.same(countPicks(balancer, 100), { a: 100 });
});

t.test('a backend that turned slow is avoided, then tried again as its cost decays', async (t) => {
  const clock = manualClock();
  const pool = makePool([1, 1]);
  const balancer = new AdaptiveBalancer(pool, OPTIONS, clock.read);
  balancer.onEnd(pool[0]!, 100); // a answered once in 100 ms at t = 0
  balancer.onEnd(pool[1]!, 10); // b answers in 10 ms, and keeps doing so (below)
  t.same(countPicks(balancer, 100), { b: 100 });
  clock.now = 20_000;
  balancer.onEnd(pool[1]!, 10);
  // a: 100·e^-2 = 13.53 > b: 10 (b's samples keep it at 10)
  t.ok(Math.abs(balancer.costOf(pool[0]!, clock.now) - 13.533528324) < 1e-6);
  t.same(countPicks(balancer, 100), { b: 100 }, 'still avoided after 20 s');
  clock.now = 25_000;
  balancer.onEnd(pool[1]!, 10);
  // a: 100·e^-2.5 = 8.21 < b: 10
  t.same(countPicks(balancer, 100), { a: 100 }, 'tried again after 25 s');
  balancer.onEnd(pool[0]!, 9); // fast again: 9 is above the faded 8.21, so it is the new cost
  t.equal(balancer.costOf(pool[0]!, clock.now), 9);
  t.same(countPicks(balancer, 100), { a: 100 }, 'and a keeps winning: 9 < 10');
});

t.test('among many backends the slow one gets nothing while the others are idle', async (t) => {
  const clock = manualClock();
  const pool = makePool([1, 1, 1, 1]);
  const balancer = new AdaptiveBalancer(pool, OPTIONS, clock.read);
  for (const backend of pool) balancer.onEnd(backend, backend.id === 'c' ? 200 : 2);
  const counts = countPicks(balancer, 10_000);
  t.equal(counts.c, undefined, 'c loses every draw: 200 > 2');
  for (const id of ['a', 'b', 'd']) t.ok(Math.abs((counts[id] ?? 0) / 10_000 - 1 / 3) < 0.03, `${id}: ${counts[id]}`);
});

t.test('a cost learned survives a new runtime over the same stats; a new backend starts at the default', async (t) => {
  const clock = manualClock();
  const pool = makePool([1, 1]);
  const first = new AdaptiveBalancer(pool, OPTIONS, clock.read);
  clock.now = 1000;
  first.onEnd(pool[0]!, 50);
  clock.now = 1100;
  const next = [new Backend('a', pool[0]!.url, 1, 0, pool[0]!.stats), ...makePool([1, 1]).slice(1).map((b) => new Backend('z', b.url, 1, 1, b.stats))];
  const second = new AdaptiveBalancer(next, OPTIONS, clock.read);
  // 50·e^-0.01 = 49.502491687
  t.ok(Math.abs(second.costOf(next[0]!, 1100) - 49.502491687) < 1e-6, 'a keeps its learned 50 ms');
  t.equal(second.costOf(next[1]!, 1100), 30, 'z starts at the default, as of its runtime');
});

t.test('a latency that is not a number teaches nothing', async (t) => {
  const clock = manualClock();
  const pool = makePool([1]);
  const balancer = new AdaptiveBalancer(pool, OPTIONS, clock.read);
  balancer.onEnd(pool[0]!, Number.NaN);
  balancer.onEnd(pool[0]!, -1);
  t.equal(balancer.costOf(pool[0]!, 0), 30);
});

t.test('costs that faded to nothing still let in-flight counts decide', async (t) => {
  const clock = manualClock();
  const pool = makePool([1, 1]);
  const balancer = new AdaptiveBalancer(pool, OPTIONS, clock.read);
  clock.now = 10_000_000; // 1000 τ: e^-1000 underflows to 0
  pool[0]!.stats.inFlight = 3;
  t.same(countPicks(balancer, 100), { b: 100 });
});

t.test('never picks unhealthy, drained, zero-weight or excluded backends, however cheap', async (t) => {
  const clock = manualClock();
  const pool = makePool([1, 1, 1, 1, 0]);
  const balancer = new AdaptiveBalancer(pool, OPTIONS, clock.read);
  clock.now = 1000;
  balancer.onEnd(pool[0]!, 1);
  balancer.onEnd(pool[1]!, 1);
  balancer.onEnd(pool[4]!, 1);
  for (const backend of pool.slice(2, 4)) balancer.onEnd(backend, 500);
  balancer.setHealthy(pool[0]!, false);
  pool[1]!.drained = true; // drain arrives with a new runtime; a stale table is caught on pick
  t.same(Object.keys(countPicks(balancer, 1000)).sort(), ['c', 'd']);
  t.same(countPicks(balancer, 100, context, [pool[2]!]), { d: 100 });
  t.equal(balancer.pick(context, [pool[2]!, pool[3]!]), undefined);
  balancer.setWeight(pool[4]!, 1);
  t.same(countPicks(balancer, 100, context, [pool[2]!]), { e: 100 }, 'weight restored: the cheapest again (1 < 500)');
});

t.test('rejects a decay or default RTT that is not positive', async (t) => {
  t.throws(() => new AdaptiveBalancer(makePool([1]), { decayMs: 0, defaultRttMs: 30 }), RangeError);
  t.throws(() => new AdaptiveBalancer(makePool([1]), { decayMs: 10_000, defaultRttMs: Number.NaN }), RangeError);
});
