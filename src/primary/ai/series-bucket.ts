/**
 * Traffic series (issue 18): one bucket is what a pool, route or backend served in one stretch of
 * time (a minute, or an hour once downsampled), as counts that add up exactly: requests, 5xx
 * answers, the seconds the bucket covers, and the request-duration histogram (DURATION_BUCKETS),
 * so an hour's p99 is computed from its minutes' histograms rather than averaged from their p99s.
 */
import type { AiSeriesPoint } from '../../shared/ai-api.js';
import { addCounts, quantileMs } from '../api-feed/latency-quantiles.js';

/** Resolutions a series is kept at. */
export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

export interface SeriesBucket {
  /** Start of the minute (or hour), ms since epoch. */
  readonly t: number;
  /** Seconds of it VeloFlux was counting (less than 60 for the minute it started in). */
  readonly seconds: number;
  readonly requests: number;
  /** Answers with a 5xx status. */
  readonly errors: number;
  /** Request durations per histogram bucket (not cumulative), the last one +Inf. */
  readonly durations: readonly number[];
}

/** What the API shows of a bucket. */
export function pointOf(bucket: SeriesBucket): AiSeriesPoint {
  return {
    t: bucket.t,
    seconds: bucket.seconds,
    requests: bucket.requests,
    errors: bucket.errors,
    requestsPerSecond: requestsPerSecond(bucket),
    errorRate: bucket.requests === 0 ? null : bucket.errors / bucket.requests,
    p99Ms: quantileMs(0.99, bucket.durations),
  };
}

export function requestsPerSecond(bucket: SeriesBucket): number {
  return bucket.seconds <= 0 ? 0 : Math.round((bucket.requests / bucket.seconds) * 1000) / 1000;
}

/** The buckets added up, starting at `t`: counts add, and histograms add bucket by bucket. */
export function mergeBuckets(t: number, buckets: readonly SeriesBucket[]): SeriesBucket {
  let seconds = 0;
  let requests = 0;
  let errors = 0;
  const durations: number[] = [];
  for (const b of buckets) {
    seconds += b.seconds;
    requests += b.requests;
    errors += b.errors;
    addCounts(durations, b.durations);
  }
  return { t, seconds, requests, errors, durations };
}
