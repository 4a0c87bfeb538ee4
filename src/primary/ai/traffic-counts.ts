/**
 * The cumulative counters a traffic series is cut from, by series key: `pool:<name>`,
 * `route:<host><path>` (the route's metrics label) and `backend:<id>`, summed from the cluster's
 * request metrics (metrics/aggregate.ts clusterTotals, which never go backwards while the primary
 * lives). Requests VeloFlux answered before choosing a route, pool or backend count in none.
 */
import type { RequestMetricsReport } from '../../shared/metrics-report.js';
import { addCounts } from '../api-feed/latency-quantiles.js';

export type SeriesKind = 'pool' | 'route' | 'backend';

export interface TrafficCounts {
  requests: number;
  /** 5xx answers. */
  errors: number;
  /** Duration histogram per bucket, and the sum of durations in seconds. */
  durations: number[];
  durationSum: number;
  /** Observations in the duration histogram (answers whose duration was measured). */
  durationCount: number;
}

export const seriesKey = (kind: SeriesKind, name: string): string => `${kind}:${name}`;

export function parseSeriesKey(key: string): { kind: SeriesKind; name: string } | undefined {
  const colon = key.indexOf(':');
  const kind = key.slice(0, colon);
  if (kind !== 'pool' && kind !== 'route' && kind !== 'backend') return undefined;
  return { kind, name: key.slice(colon + 1) };
}

const empty = (): TrafficCounts => ({ requests: 0, errors: 0, durations: [], durationSum: 0, durationCount: 0 });

export function trafficCounts(http: RequestMetricsReport): Map<string, TrafficCounts> {
  const counts = new Map<string, TrafficCounts>();
  const each = (route: string, pool: string, backend: string, add: (c: TrafficCounts) => void) => {
    for (const [kind, name] of [['route', route], ['pool', pool], ['backend', backend]] as const) {
      if (name === '') continue;
      const key = seriesKey(kind, name);
      let c = counts.get(key);
      if (c === undefined) counts.set(key, (c = empty()));
      add(c);
    }
  };
  for (const r of http.requests) {
    const isError = r.code >= 500 && r.code <= 599;
    each(r.route, r.pool, r.backend, (c) => {
      c.requests += r.value;
      if (isError) c.errors += r.value;
    });
  }
  for (const l of http.latency) {
    each(l.route, l.pool, l.backend, (c) => {
      addCounts(c.durations, l.duration.counts);
      c.durationSum += l.duration.sum;
      c.durationCount += l.duration.count;
    });
  }
  return counts;
}
