/**
 * Quantiles from bucket counts, checked against values computed by hand the way Prometheus'
 * histogram_quantile does: find the bucket holding rank q x count, interpolate linearly inside
 * it (the first bucket starts at 0), answer the highest finite bound for ranks in +Inf.
 */
import t from 'tap';
import { addCounts, histogramDelta, latencyPercentilesMs, quantile, quantileMs } from '../../../src/primary/api-feed/latency-quantiles.js';
import { DURATION_BUCKETS } from '../../../src/shared/metrics-report.js';

// DURATION_BUCKETS: 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 (+Inf): 12 counts.
const counts = (byIndex: Record<number, number>) => Array.from({ length: DURATION_BUCKETS.length + 1 }, (_, i) => byIndex[i] ?? 0);

t.test('an empty histogram has no quantiles (null, where Prometheus says NaN)', async (t) => {
  t.same(latencyPercentilesMs(counts({})), { p50Ms: null, p95Ms: null, p99Ms: null });
  t.same(latencyPercentilesMs([]), { p50Ms: null, p95Ms: null, p99Ms: null }, 'no buckets reported at all');
  t.equal(quantile(0.5, [], [3]), null, 'only a +Inf bucket: nothing to interpolate between');
});

t.test('everything in +Inf answers the highest finite bound', async (t) => {
  t.same(latencyPercentilesMs(counts({ 11: 7 })), { p50Ms: 10_000, p95Ms: 10_000, p99Ms: 10_000 });
});

t.test('a single bucket interpolates linearly between its bounds', async (t) => {
  // 10 observations in (25 ms, 50 ms]: rank 5 is half way, rank 9.5 at 95 %, rank 9.9 at 99 %.
  t.same(latencyPercentilesMs(counts({ 3: 10 })), { p50Ms: 37.5, p95Ms: 48.75, p99Ms: 49.75 });
  t.equal(quantile(0, DURATION_BUCKETS, counts({ 3: 10 })), 0.025, 'q = 0: the lower bound of the bucket');
  t.equal(quantile(1, DURATION_BUCKETS, counts({ 3: 10 })), 0.05, 'q = 1: the upper bound');
  // The first bucket starts at 0: 4 observations in [0, 5 ms].
  t.equal(quantileMs(0.5, counts({ 0: 4 })), 2.5);
});

t.test('spread over buckets: the rank picks the bucket, the rest of the rank interpolates', async (t) => {
  // Cumulative: 10 (5 ms), 40 (10 ms), 80 (25 ms), 95 (50 ms), 95 (100 ms), 99 (250 ms), 100 (+Inf).
  const h = counts({ 0: 10, 1: 30, 2: 40, 3: 15, 5: 4, 11: 1 });
  // p50: rank 50 in (10, 25] holding 40 with 40 below: 10 + 15 x 10/40 = 13.75 ms.
  // p95: rank 95 in (25, 50] holding 15 with 80 below: 25 + 25 x 15/15 = 50 ms.
  // p99: rank 99 skips the empty (50, 100] and lands in (100, 250] with 95 below: 100 + 150 x 4/4 = 250 ms.
  t.same(latencyPercentilesMs(h), { p50Ms: 13.75, p95Ms: 50, p99Ms: 250 });
  t.equal(quantileMs(0.995, h), 10_000, 'rank 99.5 is in +Inf');
  t.equal(quantileMs(0.25, h), 7.5, 'rank 25 in (5, 10] with 10 below: 5 + 5 x 15/30');
});

t.test('custom bounds, rounding to hundredths of a millisecond, and q outside 0..1', async (t) => {
  t.equal(quantile(0.5, [1, 2], [1, 2, 0]), 1.25, 'rank 1.5 in (1, 2] holding 2 with 1 below');
  t.equal(quantileMs(0.5, [0, 3, 0], [0.001, 0.002]), 0.0015 * 1000);
  t.equal(quantileMs(1 / 3, [3, 0, 0], [0.001, 0.002]), 0.33, '0.333... ms rounds to 0.33');
  t.throws(() => quantile(1.5, DURATION_BUCKETS, counts({ 0: 1 })), RangeError);
  t.throws(() => quantile(Number.NaN, DURATION_BUCKETS, counts({ 0: 1 })), RangeError);
});

t.test('histogram deltas never go negative; counts add up by bucket', async (t) => {
  t.same(histogramDelta([5, 7, 1], [2, 9, 1]), [3, 0, 0], 'a bucket that went back (a counter reset) counts as 0');
  t.same(histogramDelta([1, 2], []), [1, 2], 'no previous sample: everything is new');
  t.same(addCounts([1, 2], [10, 20, 30]), [11, 22, 30]);
  t.same(addCounts([], [4, 5]), [4, 5]);
});
