import t from 'tap';
import { validateConfig } from '../../../src/shared/config/load.js';
import type { RateLimitConfig } from '../../../src/shared/config/schema.js';
import { RateLimiter } from '../../../src/workers/rate-limit/rate-limiter.js';

function policy(fields: Record<string, unknown>): RateLimitConfig {
  const config = validateConfig({ server: { workers: 1 }, rateLimits: [{ name: 'api', ...fields }] }, 'test', {});
  return config.rateLimits[0]!;
}

const headersOf = (flat: string[]) => Object.fromEntries(flat.flatMap((v, i) => (i % 2 === 0 ? [[v, flat[i + 1]!]] : [])));

t.test('config: burst defaults to rate, per to 1s, key to ip', async (t) => {
  t.match(policy({ rate: 50 }), { name: 'api', key: 'ip', rate: 50, per: 1000, burst: 50 });
  t.match(policy({ rate: 30, per: '1m', burst: 5, key: 'header:x-api-key' }), { rate: 30, per: 60_000, burst: 5, key: 'header:x-api-key' });
});

t.test('each key has its own bucket: one exhausted, another untouched', async (t) => {
  const limiter = new RateLimiter(policy({ rate: 10, burst: 3 }), 1);
  const results = Array.from({ length: 5 }, () => limiter.take('h:A', 0));
  t.same(results, [true, true, true, false, false], 'A: the burst of 3, then refused');
  t.ok(limiter.take('h:B', 0), 'B unaffected');
  t.ok(limiter.take('h:B', 0));
  t.ok(limiter.take('h:A', 100), 'A again after 100 ms at 10/s');
  t.notOk(limiter.take('h:A', 100));
});

t.test('429 headers: Retry-After until this worker has a token, the policy rate, 0 remaining, Reset until full', async (t) => {
  // 2 per second globally, burst 10; this worker holds half: 1 token/s, capacity 5.
  const limiter = new RateLimiter(policy({ rate: 2, burst: 10 }), 0.5);
  for (let i = 0; i < 5; i++) t.ok(limiter.take('ip:a', 0));
  t.notOk(limiter.take('ip:a', 0));
  t.same(headersOf(limiter.refusalHeaders('ip:a', 0)), {
    'retry-after': '1',
    'ratelimit-limit': '2',
    'ratelimit-remaining': '0',
    'ratelimit-reset': '5',
    'ratelimit-policy': '2;w=1;burst=10;policy="api"',
  });
  t.equal(headersOf(limiter.refusalHeaders('ip:a', 2500))['ratelimit-reset'], '3', '2.5 tokens after 2.5 s: 2.5 s to full, rounded up');

  const slow = new RateLimiter(policy({ rate: 1, per: '1m', burst: 1 }), 1);
  t.ok(slow.take('ip:a', 0));
  t.notOk(slow.take('ip:a', 1000));
  t.same(headersOf(slow.refusalHeaders('ip:a', 1000)), {
    'retry-after': '59',
    'ratelimit-limit': '1',
    'ratelimit-remaining': '0',
    'ratelimit-reset': '59',
    'ratelimit-policy': '1;w=60;burst=1;policy="api"',
  });
});

t.test('shares from the primary replace the default for their keys, and expire back to it', async (t) => {
  const limiter = new RateLimiter(policy({ rate: 100, burst: 100 }), 0.5);
  limiter.take('ip:busy', 0);
  limiter.assign(['ip:busy', 'ip:elsewhere'], [0.9, 0.01], 0);
  // Drain both and count what 1 s earns at each share.
  while (limiter.take('ip:busy', 0));
  while (limiter.take('ip:elsewhere', 0));
  let busy = 0;
  let elsewhere = 0;
  for (let ms = 1; ms <= 1000; ms++) {
    while (limiter.take('ip:busy', ms)) busy++;
    while (limiter.take('ip:elsewhere', ms)) elsewhere++;
  }
  t.equal(busy, 90, '90% of 100/s');
  t.equal(elsewhere, 1, '1% of 100/s: a key only other workers use costs this one nearly nothing');

  limiter.sweep(1000);
  limiter.sweep(2500);
  while (limiter.take('ip:busy', 2500));
  let after = 0;
  for (let ms = 2501; ms <= 3500; ms++) while (limiter.take('ip:busy', ms)) after++;
  t.equal(after, 50, 'share not renewed for over 1 s: back to the default 50/s');

  limiter.setDefaultShare(0.25, 3500);
  while (limiter.take('ip:busy', 3500));
  let quarter = 0;
  for (let ms = 3501; ms <= 4500; ms++) while (limiter.take('ip:busy', ms)) quarter++;
  t.equal(quarter, 25, 'a new default share applies to keys without their own');
});

t.test('demand counts every request seen, allowed or refused, once per report', async (t) => {
  const limiter = new RateLimiter(policy({ rate: 1, burst: 1 }), 1);
  for (let i = 0; i < 4; i++) limiter.take('ip:a', 0);
  limiter.take('ip:b', 0);
  t.same(limiter.drainUsage(), { policy: 'api', keys: ['ip:a', 'ip:b'], demand: [4, 1] });
  t.equal(limiter.drainUsage(), undefined, 'nothing since');
  limiter.take('ip:b', 1);
  t.same(limiter.drainUsage(), { policy: 'api', keys: ['ip:b'], demand: [1] });
});

t.test('a report holds the busiest keys when there are more than the bound', async (t) => {
  const limiter = new RateLimiter(policy({ rate: 1000 }), 1);
  for (let k = 0; k < 10; k++) for (let i = 0; i <= k; i++) limiter.take(`ip:${k}`, 0);
  const usage = limiter.drainUsage(3)!;
  t.same(usage.keys, ['ip:9', 'ip:8', 'ip:7']);
  t.same(usage.demand, [10, 9, 8]);
  t.equal(limiter.drainUsage(3), undefined, 'the others were reset too, not carried over');
});

t.test('memory is bounded: at most maxKeys buckets, the least recently active evicted first; idle full buckets swept', async (t) => {
  const limiter = new RateLimiter(policy({ rate: 1, per: '1m', burst: 2 }), 1, 100);
  for (let i = 0; i < 100; i++) limiter.take(`ip:old-${i}`, 0);
  t.equal(limiter.size, 100);
  // ip:old-0 stays active (and empties its bucket); the sweep moves it behind the others.
  limiter.take('ip:old-0', 500);
  limiter.sweep(600);
  for (let i = 0; i < 99; i++) limiter.take(`ip:new-${i}`, 700);
  t.equal(limiter.size, 100, 'never more than maxKeys');
  t.notOk(limiter.take('ip:old-0', 700), 'the recently active key survived 99 newer keys: its bucket is still empty');
  t.ok(limiter.take('ip:old-1', 700), 'an idle one was evicted: it starts over with a full bucket');
  t.equal(limiter.size, 100);

  const idle = new RateLimiter(policy({ rate: 10, burst: 2 }), 1);
  idle.take('ip:a', 0);
  idle.take('ip:b', 0);
  idle.drainUsage();
  idle.sweep(100);
  t.equal(idle.size, 2, 'recently used: kept');
  idle.take('ip:b', 900);
  idle.drainUsage();
  idle.sweep(1500);
  t.equal(idle.size, 1, 'ip:a, unused for 1.5 s and full again, is gone (a new bucket would be the same)');
});
