/**
 * Quantiles estimated from histogram bucket counts, as Prometheus' histogram_quantile does it
 * (promql/quantile.go `bucketQuantile`): find the bucket the rank falls in and interpolate
 * linearly inside it, the first bucket starting at 0; a rank in the +Inf bucket answers the
 * highest finite bound, since nothing is known above it. So the API shows the numbers a Grafana
 * panel over the same counters shows.
 */
import { DURATION_BUCKETS } from '../../shared/metrics-report.js';

/**
 * The `q` quantile (0..1) of a histogram with per-bucket (not cumulative) `counts`, one per bound
 * in `bounds` plus the +Inf bucket last. null when there are no observations (Prometheus: NaN).
 */
export function quantile(q: number, bounds: readonly number[], counts: readonly number[]): number | null {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be within 0..1, got ${q}`);
  let total = 0;
  for (const n of counts) total += n;
  if (total <= 0 || bounds.length === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    const inBucket = counts[i] ?? 0;
    // The first bucket whose cumulative count reaches the rank; skipping empty ones keeps q = 0
    // from dividing by an empty bucket.
    if (inBucket > 0 && below + inBucket >= rank) {
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      const upper = bounds[i]!;
      if (i === 0 && upper <= 0) return upper;
      return lower + (upper - lower) * (Math.max(0, rank - below) / inBucket);
    }
    below += inBucket;
  }
  return bounds[bounds.length - 1]!;
}

export interface LatencyPercentiles {
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

/** The `q` quantile in milliseconds (two decimals) of a request duration histogram (seconds, DURATION_BUCKETS). */
export function quantileMs(q: number, counts: readonly number[], bounds: readonly number[] = DURATION_BUCKETS): number | null {
  const seconds = quantile(q, bounds, counts);
  return seconds === null ? null : Math.round(seconds * 100_000) / 100;
}

/** p50/p95/p99 in milliseconds of a request duration histogram. */
export function latencyPercentilesMs(counts: readonly number[], bounds: readonly number[] = DURATION_BUCKETS): LatencyPercentiles {
  return { p50Ms: quantileMs(0.5, counts, bounds), p95Ms: quantileMs(0.95, counts, bounds), p99Ms: quantileMs(0.99, counts, bounds) };
}

/** Per-bucket difference `now - before`; never negative (a bucket that went back counts as 0). */
export function histogramDelta(now: readonly number[], before: readonly number[]): number[] {
  return now.map((n, i) => Math.max(0, n - (before[i] ?? 0)));
}

/** Adds `from`'s bucket counts into `into` (histograms with the same bounds). */
export function addCounts(into: number[], from: readonly number[]): number[] {
  for (let i = 0; i < from.length; i++) into[i] = (into[i] ?? 0) + from[i]!;
  return into;
}
