/**
 * The last minute of cluster traffic at one-second resolution: each point is the difference
 * between two consecutive cumulative samples (the same counters /metrics exposes), divided by
 * the time between them. Kept in a fixed ring (no Array.shift on the 1 s tick).
 */
import type { ApiRealtime, RealtimePoint } from '../../shared/api-feed.js';
import { histogramDelta, quantileMs } from './latency-quantiles.js';
import { DURATION_BUCKETS } from '../../shared/metrics-report.js';

export const REALTIME_POINTS = 60;
export const REALTIME_INTERVAL_MS = 1000;

/** Cluster-wide cumulative counters at one moment (live workers plus the last reports of exited ones). */
export interface CumulativeSample {
  /** ms since epoch. */
  readonly at: number;
  readonly requests: number;
  readonly errors5xx: number;
  readonly errors4xx: number;
  /** Response body bytes relayed to clients. */
  readonly bytes: number;
  /** Request duration histogram, per bucket (DURATION_BUCKETS, +Inf last). */
  readonly duration: readonly number[];
  /** Gauges: taken as they are at `at`. */
  readonly activeConnections: number;
  readonly activeWebSockets: number;
}

export class RealtimeHistory {
  readonly #points: (RealtimePoint | undefined)[];
  readonly #bounds: readonly number[];
  /** Index the next point goes to. */
  #next = 0;
  #size = 0;
  #previous: CumulativeSample | undefined;

  constructor(capacity = REALTIME_POINTS, bounds: readonly number[] = DURATION_BUCKETS) {
    this.#points = new Array<RealtimePoint | undefined>(capacity).fill(undefined);
    this.#bounds = bounds;
  }

  /**
   * Adds the point between the previous sample and this one. The first sample only sets the
   * baseline: counters since the workers started are not one second of traffic.
   */
  record(sample: CumulativeSample): RealtimePoint | undefined {
    const previous = this.#previous;
    this.#previous = sample;
    if (previous === undefined) return undefined;
    const seconds = (sample.at - previous.at) / 1000;
    if (!(seconds > 0)) return undefined;
    // clusterTotals keeps exited workers' last reports, so totals should only grow; a counter
    // that still goes back (a report lost with a crashed worker) reads as no traffic, not negative.
    const rate = (now: number, before: number) => round(Math.max(0, now - before) / seconds);
    const duration = histogramDelta(sample.duration, previous.duration);
    const point: RealtimePoint = {
      ts: sample.at,
      requests: rate(sample.requests, previous.requests),
      errors5xx: rate(sample.errors5xx, previous.errors5xx),
      errors4xx: rate(sample.errors4xx, previous.errors4xx),
      p50Ms: quantileMs(0.5, duration, this.#bounds),
      p95Ms: quantileMs(0.95, duration, this.#bounds),
      p99Ms: quantileMs(0.99, duration, this.#bounds),
      bytes: rate(sample.bytes, previous.bytes),
      activeConnections: sample.activeConnections,
      activeWebSockets: sample.activeWebSockets,
    };
    this.#points[this.#next] = point;
    this.#next = (this.#next + 1) % this.#points.length;
    this.#size = Math.min(this.#size + 1, this.#points.length);
    return point;
  }

  /** Oldest first. */
  points(): RealtimePoint[] {
    const out: RealtimePoint[] = [];
    const start = (this.#next - this.#size + this.#points.length) % this.#points.length;
    for (let i = 0; i < this.#size; i++) out.push(this.#points[(start + i) % this.#points.length]!);
    return out;
  }

  /** The points in the feed's column layout (one array per field: a third of the JSON of an array of objects). */
  columns(): ApiRealtime {
    const columns: ApiRealtime = {
      intervalMs: REALTIME_INTERVAL_MS,
      ts: [],
      requests: [],
      errors5xx: [],
      errors4xx: [],
      p50Ms: [],
      p95Ms: [],
      p99Ms: [],
      bytes: [],
      activeConnections: [],
      activeWebSockets: [],
    };
    for (const p of this.points()) {
      columns.ts.push(p.ts);
      columns.requests.push(p.requests);
      columns.errors5xx.push(p.errors5xx);
      columns.errors4xx.push(p.errors4xx);
      columns.p50Ms.push(p.p50Ms);
      columns.p95Ms.push(p.p95Ms);
      columns.p99Ms.push(p.p99Ms);
      columns.bytes.push(p.bytes);
      columns.activeConnections.push(p.activeConnections);
      columns.activeWebSockets.push(p.activeWebSockets);
    }
    return columns;
  }
}

const round = (n: number) => Math.round(n * 100) / 100;
