import t from 'tap';
import { AdaptiveBalancer } from '../../../src/workers/balancers/adaptive.js';
import { ConsistentHashBalancer } from '../../../src/workers/balancers/consistent-hash.js';
import { BALANCER_ALGORITHMS, createBalancer } from '../../../src/workers/balancers/index.js';
import { IpHashBalancer } from '../../../src/workers/balancers/ip-hash.js';
import { LeastConnBalancer } from '../../../src/workers/balancers/least-conn.js';
import { P2cBalancer } from '../../../src/workers/balancers/p2c.js';
import { RandomBalancer } from '../../../src/workers/balancers/random.js';
import { RoundRobinBalancer } from '../../../src/workers/balancers/round-robin.js';
import { makePool, pickContext } from './fixtures/pool.js';

t.test('builds the balancer for each algorithm', async (t) => {
  const pool = makePool([1, 1]);
  const options = { hashKey: { kind: 'path' } } as const;
  t.type(createBalancer('round_robin', pool, options), RoundRobinBalancer);
  t.type(createBalancer('least_conn', pool, options), LeastConnBalancer);
  t.type(createBalancer('random', pool, options), RandomBalancer);
  t.type(createBalancer('p2c', pool, options), P2cBalancer);
  t.type(createBalancer('ip_hash', pool, options), IpHashBalancer);
  t.type(createBalancer('consistent_hash', pool, options), ConsistentHashBalancer);
  t.type(createBalancer('adaptive', pool, options), AdaptiveBalancer);
  for (const algorithm of BALANCER_ALGORITHMS) {
    t.ok(pool.includes(createBalancer(algorithm, pool, options).pick(pickContext())!), algorithm);
  }
});

t.test('rejects consistent_hash without a key, and unknown algorithms', async (t) => {
  t.throws(() => createBalancer('consistent_hash', makePool([1]), {}), TypeError);
  t.throws(() => createBalancer('weighted_fair' as never, makePool([1]), {}), TypeError);
});
