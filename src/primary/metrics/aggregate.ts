/**
 * Adds up what the workers report (and what exited workers last reported, so cluster-wide
 * counters never go backwards when a worker is replaced).
 */
import type { WebSocketStatsReport, WorkerStats } from '../../shared/ipc.js';
import type { CounterSeries, HistogramReport, LatencySeries, RequestMetricsReport, RequestSeries } from '../../shared/metrics-report.js';

export /** Every worker's WebSocket counters added up; histogram buckets by their bound. */
function sumWebSockets(reports: readonly (WebSocketStatsReport | undefined)[]): WebSocketStatsReport {
  const total: WebSocketStatsReport = {
    opened: 0,
    active: 0,
    closed: 0,
    durationSeconds: { sum: 0, count: 0, buckets: [] },
    received: { messages: 0, bytes: 0 },
    sent: { messages: 0, bytes: 0 },
  };
  const buckets = new Map<number, number>();
  for (const r of reports) {
    if (r === undefined) continue;
    total.opened += r.opened;
    total.active += r.active;
    total.closed += r.closed;
    total.durationSeconds.sum += r.durationSeconds.sum;
    total.durationSeconds.count += r.durationSeconds.count;
    for (const b of r.durationSeconds.buckets) buckets.set(b.le, (buckets.get(b.le) ?? 0) + b.count);
    total.received.messages += r.received.messages;
    total.received.bytes += r.received.bytes;
    total.sent.messages += r.sent.messages;
    total.sent.bytes += r.sent.bytes;
  }
  total.durationSeconds.sum = Math.round(total.durationSeconds.sum * 1000) / 1000;
  total.durationSeconds.buckets = [...buckets].sort(([a], [b]) => a - b).map(([le, count]) => ({ le, count }));
  return total;
}

function addHistogram(into: HistogramReport, from: HistogramReport): void {
  for (let i = 0; i < from.counts.length; i++) into.counts[i] = (into.counts[i] ?? 0) + from.counts[i]!;
  into.sum += from.sum;
  into.count += from.count;
}

/** Request series with equal labels summed across reports. */
export function sumRequestMetrics(reports: readonly (RequestMetricsReport | undefined)[]): RequestMetricsReport {
  const requests = new Map<string, RequestSeries>();
  const latency = new Map<string, LatencySeries>();
  const counters = new Map<string, CounterSeries>();
  for (const report of reports) {
    if (report === undefined) continue;
    for (const r of report.requests) {
      const key = JSON.stringify([r.route, r.pool, r.backend, r.method, r.code]);
      const existing = requests.get(key);
      if (existing !== undefined) existing.value += r.value;
      else requests.set(key, { ...r });
    }
    for (const l of report.latency) {
      const key = JSON.stringify([l.route, l.pool, l.backend]);
      const existing = latency.get(key);
      if (existing === undefined) latency.set(key, structuredClone(l));
      else {
        addHistogram(existing.duration, l.duration);
        addHistogram(existing.size, l.size);
      }
    }
    for (const c of report.counters) {
      const key = JSON.stringify([c.counter, ...c.labels]);
      const existing = counters.get(key);
      if (existing !== undefined) existing.value += c.value;
      else counters.set(key, { ...c });
    }
  }
  return { requests: [...requests.values()], latency: [...latency.values()], counters: [...counters.values()] };
}

/** Cumulative stats of every live worker plus the last report of each exited one. */
export function clusterTotals(live: readonly (WorkerStats | undefined)[], retired: readonly WorkerStats[]): { http: RequestMetricsReport; websockets: WebSocketStatsReport } {
  const all = [...live, ...retired];
  const websockets = sumWebSockets(all.map((s) => s?.websockets));
  // Tunnels of exited workers are closed, whatever they last reported.
  websockets.active = sumWebSockets(live.map((s) => s?.websockets)).active;
  return { http: sumRequestMetrics(all.map((s) => s?.http)), websockets };
}

export interface BackendTotals {
  inFlight: number;
  requests: number;
  /** Workers' moving averages weighted by the requests each served (0 without requests). */
  ewmaLatencyMs: number;
  consecutiveFailures: number;
}

/** Each backend's live counters summed over workers, by backend id. */
export function backendTotals(live: readonly (WorkerStats | undefined)[]): Map<string, BackendTotals> {
  const totals = new Map<string, BackendTotals & { weighted: number }>();
  for (const stats of live) {
    for (const r of stats?.backends ?? []) {
      let t = totals.get(r.id);
      if (t === undefined) totals.set(r.id, (t = { inFlight: 0, requests: 0, ewmaLatencyMs: 0, consecutiveFailures: 0, weighted: 0 }));
      t.inFlight += r.inFlight;
      t.requests += r.requests;
      t.weighted += r.ewmaLatencyMs * r.requests;
      t.consecutiveFailures = Math.max(t.consecutiveFailures, r.consecutiveFailures);
    }
  }
  for (const t of totals.values()) t.ewmaLatencyMs = t.requests === 0 ? 0 : t.weighted / t.requests;
  return totals;
}
