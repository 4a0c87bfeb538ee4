/**
 * This worker's request counters for Prometheus (http_requests_total and the two histograms),
 * kept as cumulative series keyed by their labels and reported to the primary once a second.
 * Labels are bounded: route (host + path prefix of the config), pool, backend, a fixed set of
 * methods and the status code; never the raw path or the client address.
 */
import { DURATION_BUCKETS, SIZE_BUCKETS, WORKER_COUNTERS, type CounterSeries, type HistogramReport, type LatencySeries, type RequestMetricsReport, type RequestSeries, type WorkerCounter } from '../../shared/metrics-report.js';
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
  /** counter -> first label -> second label ('' for one-label counters) -> series, as #groups. */
  readonly #counters = new Map<WorkerCounter, Map<string, Map<string, CounterSeries>>>();
  readonly #counterSeries: CounterSeries[] = [];

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

  /** One event of a WORKER_COUNTERS counter, with its label values in order. */
  count(counter: WorkerCounter, first: string, second = '', by = 1): void {
    this.series(counter, first, second).value += by;
  }

  /**
   * The series of a counter and label values, created at 0 when new: a caller that counts on every
   * request with the same labels (the security stage) keeps it and adds to `value` directly.
   */
  series(counter: WorkerCounter, first: string, second = ''): CounterSeries {
    let byFirst = this.#counters.get(counter);
    if (byFirst === undefined) this.#counters.set(counter, (byFirst = new Map()));
    let bySecond = byFirst.get(first);
    if (bySecond === undefined) byFirst.set(first, (bySecond = new Map()));
    const series = bySecond.get(second);
    if (series !== undefined) return series;
    const labels = WORKER_COUNTERS[counter].labels.length === 1 ? [first] : [first, second];
    const created: CounterSeries = { counter, labels, value: 0 };
    bySecond.set(second, created);
    this.#counterSeries.push(created);
    return created;
  }

  report(): RequestMetricsReport {
    return {
      requests: this.#requests,
      latency: this.#latency,
      counters: this.#counterSeries,
    };
  }
}

