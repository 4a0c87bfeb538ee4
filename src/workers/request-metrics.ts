/**
 * This worker's request counters for Prometheus (http_requests_total and the two histograms),
 * kept as cumulative series keyed by their labels and reported to the primary once a second.
 * Labels are bounded: route (host + path prefix of the config), pool, backend, a fixed set of
 * methods and the status code; never the raw path or the client address.
 */
import { DURATION_BUCKETS, SIZE_BUCKETS, type HistogramReport, type LatencySeries, type RequestMetricsReport, type RequestSeries } from '../shared/metrics-report.js';
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE']);

function observe(h: HistogramReport, bounds: readonly number[], value: number): void {
  let i = 0;
  while (i < bounds.length && value > bounds[i]!) i++;
  h.counts[i]!++;
  h.sum += value;
  h.count++;
}

const histogram = (bounds: readonly number[]): HistogramReport => ({ counts: new Array<number>(bounds.length + 1).fill(0), sum: 0, count: 0 });

class RequestMetrics {
  readonly #requests = new Map<string, RequestSeries>();
  readonly #latency = new Map<string, LatencySeries>();
  readonly #retries: Record<string, number> = {};
  readonly #circuitRejections: Record<string, number> = {};

  /** One answered request (or one the client abandoned: code 499, as nginx logs it). */
  record(route: string, pool: string, backend: string, rawMethod: string, code: number, seconds: number, bytes: number): void {
    const method = METHODS.has(rawMethod) ? rawMethod : 'OTHER';
    const where = `${route}\u0000${pool}\u0000${backend}`;
    const key = `${where}\u0000${method}\u0000${code}`;
    const series = this.#requests.get(key);
    if (series !== undefined) series.value++;
    else this.#requests.set(key, { route, pool, backend, method, code, value: 1 });
    let latency = this.#latency.get(where);
    if (latency === undefined) {
      latency = { route, pool, backend, duration: histogram(DURATION_BUCKETS), size: histogram(SIZE_BUCKETS) };
      this.#latency.set(where, latency);
    }
    observe(latency.duration, DURATION_BUCKETS, seconds);
    observe(latency.size, SIZE_BUCKETS, bytes);
  }

  retried(pool: string): void {
    this.#retries[pool] = (this.#retries[pool] ?? 0) + 1;
  }

  rejectedByCircuitBreaker(pool: string): void {
    this.#circuitRejections[pool] = (this.#circuitRejections[pool] ?? 0) + 1;
  }

  report(): RequestMetricsReport {
    return {
      requests: [...this.#requests.values()],
      latency: [...this.#latency.values()],
      retries: { ...this.#retries },
      circuitRejections: { ...this.#circuitRejections },
    };
  }
}

/** One per worker process. */
export const requestMetrics = new RequestMetrics();
