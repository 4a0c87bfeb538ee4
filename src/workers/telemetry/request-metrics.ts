/**
 * This worker's request counters for Prometheus (http_requests_total and the two histograms),
 * kept as cumulative series keyed by their labels and reported to the primary once a second.
 * Labels are bounded: route (host + path prefix of the config), pool, backend, a fixed set of
 * methods and the status code; never the raw path or the client address.
 */
import { DURATION_BUCKETS, SIZE_BUCKETS, type HistogramReport, type LatencySeries, type RateLimitedSeries, type RequestMetricsReport, type RequestSeries } from '../../shared/metrics-report.js';
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE']);

function observe(h: HistogramReport, bounds: readonly number[], value: number): void {
  let i = 0;
  while (i < bounds.length && value > bounds[i]!) i++;
  h.counts[i]!++;
  h.sum += value;
  h.count++;
}

const histogram = (bounds: readonly number[]): HistogramReport => ({ counts: new Array<number>(bounds.length + 1).fill(0), sum: 0, count: 0 });

/** Series of one route, pool and backend: its histograms and its counters by method and code. */
interface Group {
  readonly latency: LatencySeries;
  /** Indexed like METHOD_NAMES; each maps a status code to its counter. */
  readonly byMethod: (Map<number, RequestSeries> | undefined)[];
}

const METHOD_NAMES = [...METHODS, 'OTHER'];
const METHOD_INDEX = new Map(METHOD_NAMES.map((m, i) => [m, i]));
const OTHER = METHOD_NAMES.length - 1;

export class RequestMetrics {
  /** route -> pool -> backend -> group: lookups with strings that already exist, nothing built per request. */
  readonly #groups = new Map<string, Map<string, Map<string, Group>>>();
  readonly #requests: RequestSeries[] = [];
  readonly #latency: LatencySeries[] = [];
  readonly #retries: Record<string, number> = {};
  readonly #circuitRejections: Record<string, number> = {};
  /** route -> policy -> series, as #groups: no key built per request. */
  readonly #rateLimitedByRoute = new Map<string, Map<string, RateLimitedSeries>>();
  readonly #rateLimited: RateLimitedSeries[] = [];

  /** One answered request (or one the client abandoned: code 499, as nginx logs it). */
  record(route: string, pool: string, backend: string, rawMethod: string, code: number, seconds: number, bytes: number): void {
    const group = this.#group(route, pool, backend);
    const methodIndex = METHOD_INDEX.get(rawMethod) ?? OTHER;
    let byCode = group.byMethod[methodIndex];
    if (byCode === undefined) group.byMethod[methodIndex] = byCode = new Map();
    const series = byCode.get(code);
    if (series !== undefined) series.value++;
    else {
      const created: RequestSeries = { route, pool, backend, method: METHOD_NAMES[methodIndex]!, code, value: 1 };
      byCode.set(code, created);
      this.#requests.push(created);
    }
    observe(group.latency.duration, DURATION_BUCKETS, seconds);
    observe(group.latency.size, SIZE_BUCKETS, bytes);
  }

  #group(route: string, pool: string, backend: string): Group {
    let byPool = this.#groups.get(route);
    if (byPool === undefined) this.#groups.set(route, (byPool = new Map()));
    let byBackend = byPool.get(pool);
    if (byBackend === undefined) byPool.set(pool, (byBackend = new Map()));
    let group = byBackend.get(backend);
    if (group === undefined) {
      const latency: LatencySeries = { route, pool, backend, duration: histogram(DURATION_BUCKETS), size: histogram(SIZE_BUCKETS) };
      group = { latency, byMethod: [] };
      byBackend.set(backend, group);
      this.#latency.push(latency);
    }
    return group;
  }

  retried(pool: string): void {
    this.#retries[pool] = (this.#retries[pool] ?? 0) + 1;
  }

  rejectedByCircuitBreaker(pool: string): void {
    this.#circuitRejections[pool] = (this.#circuitRejections[pool] ?? 0) + 1;
  }

  rateLimited(route: string, policy: string): void {
    let byPolicy = this.#rateLimitedByRoute.get(route);
    if (byPolicy === undefined) this.#rateLimitedByRoute.set(route, (byPolicy = new Map()));
    const series = byPolicy.get(policy);
    if (series !== undefined) series.value++;
    else {
      const created: RateLimitedSeries = { route, policy, value: 1 };
      byPolicy.set(policy, created);
      this.#rateLimited.push(created);
    }
  }

  report(): RequestMetricsReport {
    return {
      requests: this.#requests,
      latency: this.#latency,
      retries: { ...this.#retries },
      circuitRejections: { ...this.#circuitRejections },
      rateLimited: this.#rateLimited,
    };
  }
}

