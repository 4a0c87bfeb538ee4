/**
 * The request metrics a worker reports to the primary (cumulative since the worker started),
 * and the histogram bucket bounds both sides use.
 */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
export const SIZE_BUCKETS = [100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000] as const;

export interface HistogramReport {
  /** Per bucket (not cumulative), the last one is +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

export interface RequestSeries {
  route: string;
  pool: string;
  backend: string;
  method: string;
  code: number;
  value: number;
}

export interface LatencySeries {
  route: string;
  pool: string;
  backend: string;
  duration: HistogramReport;
  size: HistogramReport;
}

/** Requests answered 429 by a rate limit policy on a route. */
export interface RateLimitedSeries {
  route: string;
  policy: string;
  value: number;
}

export interface RequestMetricsReport {
  requests: RequestSeries[];
  latency: LatencySeries[];
  retries: Record<string, number>;
  circuitRejections: Record<string, number>;
  rateLimited: RateLimitedSeries[];
}

