import t from 'tap';
import { LeastConnBalancer } from '../../../src/workers/balancers/least-conn.js';
import { countPicks, makePool, pickContext } from './fixtures/pool.js';

const context = pickContext();

t.test('picks the backend with the fewest in-flight requests', async (t) => {
  const pool = makePool([1, 1, 1]);
  pool[0]!.stats.inFlight = 4;
  pool[1]!.stats.inFlight = 1;
  pool[2]!.stats.inFlight = 3;
  const balancer = new LeastConnBalancer(pool);
  t.same(countPicks(balancer, 100), { b: 100 });
});

t.test('divides in-flight by weight', async (t) => {
  const pool = makePool([3, 1]);
  pool[0]!.stats.inFlight = 5; // 5/3 per unit of weight
  pool[1]!.stats.inFlight = 2; // 2/1
  const balancer = new LeastConnBalancer(pool);
  t.equal(balancer.pick(context)?.id, 'a');
  pool[0]!.stats.inFlight = 7; // 7/3 > 2/1
  t.equal(balancer.pick(context)?.id, 'b');
});

t.test('equal backends share load round-robin', async (t) => {
  const balancer = new LeastConnBalancer(makePool([1, 1, 1]));
  const sequence: string[] = [];
  for (let i = 0; i < 6; i++) sequence.push(balancer.pick(context)!.id);
  t.equal(sequence.join(','), 'a,b,c,a,b,c');
  t.same(countPicks(balancer, 3000), { a: 1000, b: 1000, c: 1000 });
});

t.test('ties follow smooth weighted round robin, so idle pools still honour weights', async (t) => {
  const balancer = new LeastConnBalancer(makePool([5, 1, 1]));
  const sequence: string[] = [];
  for (let i = 0; i < 7; i++) sequence.push(balancer.pick(context)!.id);
  t.equal(sequence.join(','), 'a,a,b,a,c,a,a');
});

t.test('requests that never finish pile up in proportion to weight', async (t) => {
  const pool = makePool([5, 1, 1]);
  const balancer = new LeastConnBalancer(pool);
  for (let i = 0; i < 700; i++) {
    const backend = balancer.pick(context)!;
    backend.stats.inFlight++; // what the proxy does on start
    balancer.onStart(backend);
  }
  t.same(
    pool.map((backend) => backend.stats.inFlight),
    [500, 100, 100],
  );
});

t.test('never picks unhealthy or zero-weight backends, even when idle', async (t) => {
  const pool = makePool([1, 0, 1]);
  pool[2]!.stats.inFlight = 50;
  const balancer = new LeastConnBalancer(pool);
  balancer.setHealthy(pool[0]!, false);
  t.same(countPicks(balancer, 100), { c: 100 });
  balancer.setWeight(pool[1]!, 1);
  t.equal(pool[1]!.weight, 1);
  t.same(countPicks(balancer, 100), { b: 100 });
});

t.test('skips excluded backends', async (t) => {
  const pool = makePool([1, 1, 1]);
  pool[1]!.stats.inFlight = 10;
  const balancer = new LeastConnBalancer(pool);
  t.same(countPicks(balancer, 10, context, [pool[0]!, pool[2]!]), { b: 10 });
  t.same(countPicks(balancer, 10, context, [pool[0]!]), { c: 10 });
});

t.test('returns undefined when nothing is available', async (t) => {
  const pool = makePool([1, 1]);
  const balancer = new LeastConnBalancer(pool);
  t.equal(balancer.pick(context, pool), undefined);
  balancer.setHealthy(pool[0]!, false);
  balancer.setHealthy(pool[1]!, false);
  t.equal(balancer.pick(context), undefined);
});
