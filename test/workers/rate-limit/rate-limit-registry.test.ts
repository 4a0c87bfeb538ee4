import t from 'tap';
import { validateConfig } from '../../../src/shared/config/load.js';
import type { RateLimitConfig } from '../../../src/shared/config/schema.js';
import { RateLimitRegistry } from '../../../src/workers/rate-limit/rate-limit-registry.js';

function policies(...list: Record<string, unknown>[]): readonly RateLimitConfig[] {
  return validateConfig({ server: { workers: 1 }, rateLimits: list }, 'test', {}).rateLimits;
}

t.test('an unchanged policy keeps its limiter (and buckets) across swaps; a changed one starts over', async (t) => {
  const registry = new RateLimitRegistry();
  const v1 = policies({ name: 'api', rate: 10, burst: 2 }, { name: 'login', rate: 1 });
  const api = registry.limiterFor(v1[0]!);
  const login1 = registry.limiterFor(v1[1]!);
  registry.retain(v1);
  t.ok(api.take('ip:a', 0));
  t.ok(api.take('ip:a', 0));
  t.notOk(api.take('ip:a', 0));

  // A reload: same api policy (a fresh but equal config object), login changed.
  const v2 = policies({ name: 'api', rate: 10, burst: 2 }, { name: 'login', rate: 2 });
  t.equal(registry.limiterFor(v2[0]!), api, 'same name and parameters: same limiter');
  t.not(registry.limiterFor(v2[1]!), login1, 'new parameters: a new limiter');
  registry.retain(v2);
  t.notOk(api.take('ip:a', 0), 'its bucket is still empty: a reload is no way around a limit');
  t.not(registry.limiterFor(v1[1]!), login1, 'the old login limiter was dropped on retain (asking again builds a new one)');

  const v3 = policies({ name: 'api', rate: 20, burst: 2 });
  const api3 = registry.limiterFor(v3[0]!);
  t.not(api3, api, 'a new rate is a new limiter');
  t.ok(api3.take('ip:a', 0));
});

t.test('shares reach the serving limiter by policy name; the default share reaches every limiter', async (t) => {
  const registry = new RateLimitRegistry();
  const list = policies({ name: 'api', rate: 100, burst: 100 });
  const api = registry.limiterFor(list[0]!);
  registry.retain(list);
  registry.applyShares(0.5, [], 0);
  t.equal(api.defaultShare, 0.5);
  let n = 0;
  while (api.take('ip:a', 0)) n++;
  t.equal(n, 50, 'default share: half the burst');

  registry.applyShares(0.5, [{ policy: 'api', keys: ['ip:b'], shares: [0.1] }, { policy: 'gone', keys: ['ip:b'], shares: [1] }], 0);
  n = 0;
  while (api.take('ip:b', 0)) n++;
  t.equal(n, 10, "the coordinator's share for ip:b: a tenth of the burst");
  t.same(registry.collectUsage(), [{ policy: 'api', keys: ['ip:a', 'ip:b'], demand: [51, 11] }]);
  t.same(registry.collectUsage(), [], 'drained');
});
