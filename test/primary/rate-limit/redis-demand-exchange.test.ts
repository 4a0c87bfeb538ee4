/**
 * Two RedisDemandExchanges on one real Redis are two VeloFlux instances: their shares of a key
 * follow their demands, an instance that stops reporting drops out, escaped ids never collide,
 * and with Redis gone each falls back to 1 / instances without throwing.
 */
import t from 'tap';
import { Redis } from 'ioredis';
import { startRedis } from '../../helpers/redis.js';
import { RedisDemandExchange } from '../../../src/primary/rate-limit/redis-demand-exchange.js';

const redis = await startRedis();
t.teardown(() => redis.stop());

/** As the proxy connects: no offline queue, bounded commands, fast reconnects. */
function connect(): Redis {
  const client = new Redis(redis.url, { enableOfflineQueue: false, enableAutoPipelining: true, maxRetriesPerRequest: 0, commandTimeout: 200, retryStrategy: () => 50 });
  client.on('error', () => {});
  t.teardown(() => client.disconnect());
  return client;
}

async function ready(client: Redis): Promise<void> {
  if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
}

const staleAfterMs = 400;
const clientA = connect();
const clientB = connect();
await Promise.all([ready(clientA), ready(clientB)]);
const a = new RedisDemandExchange(clientA, { keyPrefix: 'vf-test:', instanceId: 'host-a', staleAfterMs });
const b = new RedisDemandExchange(clientB, { keyPrefix: 'vf-test:', instanceId: 'host-b', staleAfterMs });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('two instances split a key by demand; the instance count comes back too', async (t) => {
  await a.exchange([{ policy: 'api', key: 'ip:x', demand: 300 }]);
  const fromB = await b.exchange([{ policy: 'api', key: 'ip:x', demand: 100 }]);
  const fromA = await a.exchange([{ policy: 'api', key: 'ip:x', demand: 300 }]);
  t.equal(fromA.instances, 2);
  t.equal(fromB.instances, 2);
  t.ok(Math.abs(fromA.shares[0]! - 0.75) < 0.01, `A: 300 of 400 req/s (${fromA.shares[0]})`);
  t.ok(Math.abs(fromB.shares[0]! - 0.25) < 0.01, `B: 100 of 400 req/s (${fromB.shares[0]})`);
  t.ok(Math.abs(fromA.shares[0]! + fromB.shares[0]! - 1) < 0.01, 'together, the whole rate');
});

t.test('an instance that stops reporting drops out: the other gets the whole key', async (t) => {
  await b.exchange([{ policy: 'api', key: 'ip:y', demand: 100 }]);
  const shared = await a.exchange([{ policy: 'api', key: 'ip:y', demand: 100 }]);
  t.ok(Math.abs(shared.shares[0]! - 0.5) < 0.01, `both report: half each (${shared.shares[0]})`);
  await sleep(staleAfterMs + 150);
  const alone = await a.exchange([{ policy: 'api', key: 'ip:y', demand: 100 }]);
  t.equal(alone.shares[0], 1, 'B silent for longer than staleAfterMs: A holds all of it');
  t.equal(alone.instances, 1, 'and B no longer counts as a live instance');
});

t.test("ids with ':' and '*' are escaped: no two (policy, key) pairs share a Redis key", async (t) => {
  t.equal(a.keyOf('a:b', 'c'), 'vf-test:{rl}:a%3Ab:c');
  t.equal(a.keyOf('a', 'b:c'), 'vf-test:{rl}:a:b%3Ac');
  t.equal(a.keyOf('p', 'h:*'), 'vf-test:{rl}:p:h%3A%2A');
  // If the pairs collided, each instance would see the other on its key and get about half.
  await b.exchange([{ policy: 'a', key: 'b:c', demand: 100 }, { policy: 'p', key: 'h:x', demand: 100 }]);
  const result = await a.exchange([{ policy: 'a:b', key: 'c', demand: 100 }, { policy: 'p', key: 'h:*', demand: 100 }]);
  t.same(result.shares, [1, 1], 'A is alone on its keys');
  const keys = (await clientA.keys('vf-test:*')).sort();
  t.ok(keys.includes('vf-test:{rl}:a%3Ab:c') && keys.includes('vf-test:{rl}:a:b%3Ac') && keys.includes('vf-test:{rl}:p:h%3A%2A'), keys.join(' '));
});

t.test('Redis stopped: the fallback share, 1 / last known instances, without throwing; shares resume when it returns', async (t) => {
  await b.exchange([{ policy: 'api', key: 'ip:z', demand: 100 }]);
  const before = await a.exchange([{ policy: 'api', key: 'ip:z', demand: 100 }]);
  t.equal(before.instances, 2);
  await redis.stop();
  const started = performance.now();
  const during = await a.exchange([{ policy: 'api', key: 'ip:z', demand: 100 }, { policy: 'api', key: 'ip:w', demand: 5 }]);
  t.ok(performance.now() - started < 500, 'answers within its timeout');
  t.same(during, { shares: [0.5, 0.5], instances: 2 }, 'every key: 1/2, the instance count last seen');
  await redis.start();
  await ready(clientA);
  let after = await a.exchange([{ policy: 'api', key: 'ip:z', demand: 100 }]);
  for (let i = 0; i < 20 && after.shares[0] !== 1; i++) {
    await sleep(50);
    after = await a.exchange([{ policy: 'api', key: 'ip:z', demand: 100 }]);
  }
  t.same(after, { shares: [1], instances: 1 }, 'an empty Redis again: A is alone (B has not ticked since)');
});

t.test('before Redis ever answered: 1 / expectedInstances', async (t) => {
  const client = new Redis(`redis://127.0.0.1:1`, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true, retryStrategy: () => null });
  client.on('error', () => {});
  const exchange = new RedisDemandExchange(client, { keyPrefix: 'vf-test:', instanceId: 'host-c', expectedInstances: 3 });
  t.same(await exchange.exchange([{ policy: 'api', key: 'ip:x', demand: 1 }]), { shares: [1 / 3], instances: 3 });
  client.disconnect();
});
