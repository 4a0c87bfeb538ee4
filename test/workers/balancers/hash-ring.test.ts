import t, { type Test } from 'tap';
import type { Backend } from '../../../src/workers/runtime/backend.js';
import { HashRing } from '../../../src/workers/balancers/hash-ring.js';
import { makePool, withoutBackend } from './fixtures/pool.js';

const SAMPLES = 1 << 16;
const STEP = 2 ** 32 / SAMPLES;

/** Owner id of evenly spaced points around the ring. */
function owners(ring: HashRing): (string | undefined)[] {
  const result: (string | undefined)[] = [];
  for (let i = 0; i < SAMPLES; i++) result.push(ring.lookup(i * STEP)?.id);
  return result;
}

function countMoved(before: readonly (string | undefined)[], after: readonly (string | undefined)[]): number {
  let moved = 0;
  for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) moved++;
  return moved;
}

function shares(ids: readonly (string | undefined)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const id of ids) counts[id ?? 'none'] = (counts[id ?? 'none'] ?? 0) + 1 / ids.length;
  return counts;
}

function assertSharesNear(t: Test, ring: HashRing, pool: readonly Backend[]): void {
  const totalWeight = pool.reduce((sum, backend) => sum + (backend.available ? backend.weight : 0), 0);
  const measured = shares(owners(ring));
  for (const backend of pool) {
    const expected = backend.available ? backend.weight / totalWeight : 0;
    const share = measured[backend.id] ?? 0;
    t.ok(Math.abs(share - expected) <= expected * 0.2, `${backend.id}: share ${share.toFixed(3)} vs ${expected.toFixed(3)}`);
  }
}

t.test('places 160 points per unit of weight and none for weight 0', async (t) => {
  t.equal(new HashRing(makePool([1, 1, 1])).size, 480);
  t.equal(new HashRing(makePool([5, 1, 0])).size, 960);
  t.equal(new HashRing(makePool([0.01])).size, 2, 'any positive weight is reachable');
  t.equal(new HashRing([]).size, 0);
});

t.test('caps the ring size for huge weights, keeping shares proportional', async (t) => {
  const pool = makePool([10_000, 10_000, 5_000]);
  const ring = new HashRing(pool);
  t.ok(ring.size <= 1 << 18, `size ${ring.size}`);
  assertSharesNear(t, ring, pool);
});

t.test('splits the ring in proportion to weight', async (t) => {
  for (const weights of [
    [1, 1, 1, 1, 1],
    [5, 1, 1],
  ]) {
    const pool = makePool(weights);
    assertSharesNear(t, new HashRing(pool), pool);
  }
});

t.test('wraps around past the last point', async (t) => {
  const ring = new HashRing(makePool([1, 1]));
  t.equal(ring.lookup(2 ** 32 - 1)?.id, ring.lookup(0)?.id);
});

t.test('an unhealthy backend is skipped, so only its keys move, and they come back', async (t) => {
  const pool = makePool([1, 1, 1, 1, 1]);
  const ring = new HashRing(pool);
  const before = owners(ring);
  ring.setHealthy(pool[2]!, false);
  t.equal(pool[2]!.healthy, false);
  const during = owners(ring);
  let moved = 0;
  let wronglyMoved = 0;
  for (let i = 0; i < SAMPLES; i++) {
    if (before[i] === 'c') {
      moved++;
      if (during[i] === 'c' || during[i] === undefined) wronglyMoved++;
    } else if (during[i] !== before[i]) {
      wronglyMoved++;
    }
  }
  t.equal(wronglyMoved, 0, 'keys not on c keep their backend; keys on c find another');
  t.ok(moved > 0);
  ring.setHealthy(pool[2]!, true);
  t.equal(countMoved(before, owners(ring)), 0, 'all keys back on recovery');
});

t.test('a weight increase moves keys only onto that backend', async (t) => {
  const pool = makePool([1, 1, 1]);
  const ring = new HashRing(pool);
  const before = owners(ring);
  ring.setWeight(pool[0]!, 3);
  t.equal(pool[0]!.weight, 3);
  t.equal(ring.size, 800);
  const after = owners(ring);
  let movedElsewhere = 0;
  for (let i = 0; i < SAMPLES; i++) if (after[i] !== before[i] && after[i] !== 'a') movedElsewhere++;
  t.equal(movedElsewhere, 0);
  t.ok(countMoved(before, after) > 0);
  assertSharesNear(t, ring, pool);
  ring.setWeight(pool[0]!, 1);
  t.equal(countMoved(before, owners(ring)), 0, 'all keys back when the weight is restored');
});

t.test('weight 0 takes a backend off the ring', async (t) => {
  const pool = makePool([1, 1]);
  const ring = new HashRing(pool);
  ring.setWeight(pool[1]!, 0);
  t.equal(ring.size, 160);
  t.same(shares(owners(ring)), { a: 1 });
});

t.test('removing a backend moves only its keys', async (t) => {
  const pool = makePool([1, 1, 1, 1, 1]);
  const before = owners(new HashRing(pool));
  const after = owners(new HashRing(withoutBackend(pool, 'd')));
  let wronglyMoved = 0;
  for (let i = 0; i < SAMPLES; i++) if (before[i] !== 'd' && after[i] !== before[i]) wronglyMoved++;
  t.equal(wronglyMoved, 0);
});

t.test('does not depend on the order backends are listed in', async (t) => {
  const pool = makePool([2, 1, 1, 3]);
  t.equal(countMoved(owners(new HashRing([...pool].reverse())), owners(new HashRing(pool))), 0);
});

t.test('skips excluded backends clockwise', async (t) => {
  const pool = makePool([1, 1, 1]);
  const ring = new HashRing(pool);
  for (let i = 0; i < 1000; i++) {
    const hash = i * 4_294_967;
    const first = ring.lookup(hash)!;
    const second = ring.lookup(hash, [first])!;
    t.not(second.id, first.id);
    const third = ring.lookup(hash, [first, second])!;
    t.not(third.id, first.id);
    t.not(third.id, second.id);
    t.equal(ring.lookup(hash, pool), undefined);
  }
});

t.test('returns undefined when nothing is available', async (t) => {
  const pool = makePool([1, 1]);
  const ring = new HashRing(pool);
  ring.setHealthy(pool[0]!, false);
  ring.setHealthy(pool[1]!, false);
  t.equal(ring.lookup(12345), undefined);
  pool[1]!.healthy = true; // behind the ring's back: read live, not from a stale count
  t.equal(ring.lookup(12345)?.id, 'b');
  t.equal(new HashRing([]).lookup(0), undefined);
  t.equal(new HashRing(makePool([0, 0])).lookup(0), undefined);
});
