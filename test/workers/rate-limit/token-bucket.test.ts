import t from 'tap';
import { TokenBucket } from '../../../src/workers/rate-limit/token-bucket.js';

// 100 tokens per second globally (0.1 per ms), burst 20.
const limits = { ratePerMs: 0.1, burst: 20 };

t.test('starts full at burst × share and refills at rate × share, never above capacity', async (t) => {
  const bucket = new TokenBucket('ip:a', 0.5, limits, 0);
  t.equal(bucket.capacity, 10, 'half of burst 20');
  t.equal(bucket.tokens, 10, 'a new key has its whole burst');
  let taken = 0;
  while (bucket.take(0)) taken++;
  t.equal(taken, 10, 'the burst, then nothing at the same instant');
  t.notOk(bucket.take(0));
  bucket.refill(100);
  t.equal(bucket.tokens, 5, '100 ms at 50/s (half of 100/s) earns 5 tokens');
  bucket.refill(10_000);
  t.equal(bucket.tokens, 10, 'capped at capacity after a long pause');
});

t.test('a tiny share still holds one token, so its first request can pass', async (t) => {
  const bucket = new TokenBucket('ip:a', 0.001, limits, 0);
  t.equal(bucket.capacity, 1, '20 × 0.001 = 0.02, raised to 1');
  t.ok(bucket.take(0));
  t.notOk(bucket.take(0));
  t.equal(Math.round(bucket.msUntil(1)), 10_000, 'refills at 0.1 token/s: one token in 10 s');
});

t.test('share changes: earned tokens kept at the old rate, clamped to the new capacity; new rate from then on', async (t) => {
  const bucket = new TokenBucket('ip:a', 0.5, limits, 0);
  while (bucket.take(0));
  bucket.setShare(0.25, limits, 40);
  t.equal(bucket.tokens, 2, '40 ms at the old 50/s');
  t.equal(bucket.capacity, 5);
  bucket.refill(80);
  t.equal(bucket.tokens, 3, '40 ms at the new 25/s adds 1');
  bucket.refill(1000);
  t.equal(bucket.tokens, 5, 'full at the smaller capacity');
  bucket.setShare(0.05, limits, 1000);
  t.equal(bucket.tokens, 1, 'a shrinking share gives up the burst it no longer owns');
  bucket.setShare(1, limits, 1000);
  t.equal(bucket.tokens, 1, 'a growing share earns faster but gets no free tokens');
  t.equal(bucket.capacity, 20);
  t.equal(bucket.msUntil(20), 190, '19 tokens at 100/s');
});
