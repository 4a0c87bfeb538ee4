import t from 'tap';
import { RoundRobinBalancer } from '../../../src/workers/balancers/round-robin.js';
import { countPicks, makePool, pickContext } from './fixtures/pool.js';

const context = pickContext();

t.test('follows nginx smooth weighted sequence a,a,b,a,c,a,a for weights 5,1,1', async (t) => {
  const balancer = new RoundRobinBalancer(makePool([5, 1, 1]));
  const sequence: string[] = [];
  for (let i = 0; i < 14; i++) sequence.push(balancer.pick(context)!.id);
  t.same(sequence.join(','), 'a,a,b,a,c,a,a,a,a,b,a,c,a,a');
});

t.test('honours weights exactly over 10k picks', async (t) => {
  const balancer = new RoundRobinBalancer(makePool([5, 1, 1]));
  // 10000 = 1428 full cycles of 7 plus a,a,b,a.
  t.same(countPicks(balancer, 10_000), { a: 7143, b: 1429, c: 1428 });
});

t.test('equal weights alternate in order', async (t) => {
  const balancer = new RoundRobinBalancer(makePool([1, 1, 1]));
  const sequence: string[] = [];
  for (let i = 0; i < 6; i++) sequence.push(balancer.pick(context)!.id);
  t.equal(sequence.join(','), 'a,b,c,a,b,c');
});

t.test('never picks an unhealthy backend, and picks it again once healthy', async (t) => {
  const pool = makePool([5, 1, 1]);
  const balancer = new RoundRobinBalancer(pool);
  balancer.setHealthy(pool[0]!, false);
  t.equal(pool[0]!.healthy, false);
  t.same(countPicks(balancer, 1000), { b: 500, c: 500 });
  balancer.setHealthy(pool[0]!, true);
  t.ok((countPicks(balancer, 700).a ?? 0) >= 490);
});

t.test('never picks a zero-weight backend; setWeight updates weight and shares', async (t) => {
  const pool = makePool([1, 0, 1]);
  const balancer = new RoundRobinBalancer(pool);
  t.same(countPicks(balancer, 100), { a: 50, c: 50 });
  balancer.setWeight(pool[1]!, 2);
  t.equal(pool[1]!.weight, 2);
  t.same(countPicks(balancer, 400), { a: 100, b: 200, c: 100 });
  balancer.setWeight(pool[0]!, 0);
  t.same(countPicks(balancer, 300), { b: 200, c: 100 });
});

t.test('skips excluded backends', async (t) => {
  const pool = makePool([5, 1, 1]);
  const balancer = new RoundRobinBalancer(pool);
  t.same(countPicks(balancer, 100, context, [pool[0]!]), { b: 50, c: 50 });
  t.same(countPicks(balancer, 10, context, [pool[0]!, pool[1]!]), { c: 10 });
});

t.test('returns undefined when nothing is available', async (t) => {
  const pool = makePool([1, 1]);
  const balancer = new RoundRobinBalancer(pool);
  t.equal(balancer.pick(context, pool), undefined);
  balancer.setHealthy(pool[0]!, false);
  balancer.setWeight(pool[1]!, 0);
  t.equal(balancer.pick(context), undefined);
  t.equal(new RoundRobinBalancer([]).pick(context), undefined);
});

t.test('rejects backends whose index is not their position, and invalid weights', async (t) => {
  const pool = makePool([1, 1]);
  t.throws(() => new RoundRobinBalancer([pool[1]!, pool[0]!]), RangeError);
  const balancer = new RoundRobinBalancer(pool);
  t.throws(() => balancer.setWeight(pool[0]!, -1), RangeError);
  t.throws(() => balancer.setWeight(pool[0]!, Number.NaN), RangeError);
  t.equal(pool[0]!.weight, 1);
});
