/**
 * Cumulative metered usage per route label, from the cluster's request metrics (the workers'
 * reports summed, exited workers included, so the figures never go back while this instance runs).
 */
import type { RequestMetricsReport } from '../../shared/metrics-report.js';
import { emptyUsage, type Usage } from '../../shared/billing/usage.js';

export function routeUsage(http: RequestMetricsReport): Map<string, Usage> {
  const byRoute = new Map<string, Usage>();
  const of = (route: string): Usage => {
    let usage = byRoute.get(route);
    if (usage === undefined) byRoute.set(route, (usage = emptyUsage()));
    return usage;
  };
  // Only what went to a backend is billed: no backend label means VeloFlux answered itself.
  for (const series of http.requests) if (series.route !== '' && series.backend !== '') of(series.route).requests += series.value;
  for (const series of http.latency) if (series.route !== '' && series.backend !== '') of(series.route).bytesOut += series.size.sum;
  for (const series of http.counters) {
    const [route = '', direction] = series.labels;
    if (route === '') continue;
    switch (series.counter) {
      case 'requestBytes':
        of(route).bytesIn += series.value;
        break;
      case 'websocketBytes':
        if (direction === 'in') of(route).bytesIn += series.value;
        else of(route).bytesOut += series.value;
        break;
      case 'websocketMessages':
        of(route).websocketMessages += series.value;
        break;
      case 'websocketSeconds':
        of(route).websocketSeconds += series.value;
        break;
    }
  }
  return byRoute;
}
