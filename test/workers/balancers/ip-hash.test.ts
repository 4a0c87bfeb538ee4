import t from 'tap';
import type { Balancer } from '../../../src/workers/balancers/balancer.js';
import { IpHashBalancer } from '../../../src/workers/balancers/ip-hash.js';
import { clientAddresses, makePool, pickContext, withoutBackend } from './fixtures/pool.js';

const ADDRESSES = clientAddresses(10_000);

function assignments(balancer: Balancer): (string | undefined)[] {
  return ADDRESSES.map((clientAddress) => balancer.pick(pickContext({ clientAddress }))?.id);
}

t.test('keeps an address on one backend, across picks and across instances', async (t) => {
  const context = pickContext({ clientAddress: '198.51.100.23' });
  const balancer = new IpHashBalancer(makePool([1, 1, 1, 1, 1]));
  const first = balancer.pick(context)!.id;
  let others = 0;
  for (let i = 0; i < 1000; i++) if (balancer.pick(context)!.id !== first) others++;
  t.equal(others, 0);
  t.equal(new IpHashBalancer(makePool([1, 1, 1, 1, 1])).pick(context)!.id, first);
  t.same(assignments(new IpHashBalancer(makePool([1, 1, 1]))), assignments(new IpHashBalancer(makePool([1, 1, 1]))));
});

t.test('spreads distinct addresses over the pool', async (t) => {
  const counts: Record<string, number> = {};
  for (const id of assignments(new IpHashBalancer(makePool([1, 1, 1, 1, 1])))) counts[id!] = (counts[id!] ?? 0) + 1;
  t.same(Object.keys(counts).sort(), ['a', 'b', 'c', 'd', 'e']);
  for (const [id, count] of Object.entries(counts)) t.ok(count > 1500 && count < 2500, `${id}: ${count}`);
});

t.test('an unhealthy backend moves only its own clients, and gets them back', async (t) => {
  const pool = makePool([1, 1, 1, 1, 1]);
  const balancer = new IpHashBalancer(pool);
  const before = assignments(balancer);
  balancer.setHealthy(pool[1]!, false);
  t.equal(pool[1]!.healthy, false);
  const during = assignments(balancer);
  let moved = 0;
  let wronglyMoved = 0;
  for (let i = 0; i < ADDRESSES.length; i++) {
    if (before[i] === 'b') {
      moved++;
      if (during[i] === 'b' || during[i] === undefined) wronglyMoved++;
    } else if (during[i] !== before[i]) {
      wronglyMoved++;
    }
  }
  t.equal(wronglyMoved, 0, 'every address not on b keeps its backend');
  t.ok(moved > 1000, `b had ${moved} addresses`);
  balancer.setHealthy(pool[1]!, true);
  t.same(assignments(balancer), before);
});

t.test('removing a backend from the pool remaps about 1/5 of addresses', async (t) => {
  const pool = makePool([1, 1, 1, 1, 1]);
  const before = assignments(new IpHashBalancer(pool));
  const after = assignments(new IpHashBalancer(withoutBackend(pool, 'c')));
  let remapped = 0;
  let wronglyMoved = 0;
  for (let i = 0; i < ADDRESSES.length; i++) {
    if (after[i] === before[i]) continue;
    remapped++;
    if (before[i] !== 'c') wronglyMoved++;
  }
  t.ok(remapped / ADDRESSES.length < 0.3, `remapped ${remapped}`);
  t.equal(wronglyMoved, 0, 'only addresses that were on c move');
});

t.test('setWeight updates the backend and its share', async (t) => {
  const pool = makePool([1, 1]);
  const balancer = new IpHashBalancer(pool);
  balancer.setWeight(pool[0]!, 0);
  t.equal(pool[0]!.weight, 0);
  t.same([...new Set(assignments(balancer))], ['b']);
  balancer.setWeight(pool[0]!, 3);
  const onA = assignments(balancer).filter((id) => id === 'a').length;
  t.ok(onA > 6500 && onA < 8500, `a has ${onA} of 10000 at weight 3:1`);
});

t.test('exclude sends a retry to another backend, the same one each time', async (t) => {
  const pool = makePool([1, 1, 1]);
  const balancer = new IpHashBalancer(pool);
  const context = pickContext({ clientAddress: '203.0.113.9' });
  const first = balancer.pick(context)!;
  const retry = balancer.pick(context, [first])!;
  t.not(retry, first);
  t.equal(balancer.pick(context, [first]), retry);
  t.equal(balancer.pick(context, pool), undefined);
});

t.test('returns undefined when nothing is available', async (t) => {
  const pool = makePool([1, 1]);
  const balancer = new IpHashBalancer(pool);
  balancer.setHealthy(pool[0]!, false);
  balancer.setHealthy(pool[1]!, false);
  t.equal(balancer.pick(pickContext()), undefined);
});
