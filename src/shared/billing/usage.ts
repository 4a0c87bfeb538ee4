/**
 * Metered usage: what a tenant is billed on. A request counts when VeloFlux sent it to a backend
 * (requests VeloFlux refused itself, e.g. 403, 429 or 503 without a backend, are not billed);
 * bytes are bodies both ways plus WebSocket traffic; WebSocket figures count when a session ends.
 *
 * Each instance writes, per tenant and period, the absolute totals it has metered since it
 * started (namespace `usage`, id `<periodStart>.<tenant>.<instance>`): writing the same total twice
 * changes nothing, so a retry after a failed write (Redis away) never counts twice, and a restart
 * is a new instance id whose totals start from zero beside the old ones. A tenant's usage is the
 * sum of its records for the period across instances.
 */
export const USAGE_NAMESPACE = 'usage';

export interface Usage {
  requests: number;
  bytesIn: number;
  bytesOut: number;
  websocketMessages: number;
  websocketSeconds: number;
}

export const USAGE_METRICS = ['requests', 'bytesIn', 'bytesOut', 'websocketMessages', 'websocketSeconds'] as const satisfies readonly (keyof Usage)[];

export const emptyUsage = (): Usage => ({ requests: 0, bytesIn: 0, bytesOut: 0, websocketMessages: 0, websocketSeconds: 0 });

export function addUsage(into: Usage, more: Usage): void {
  for (const metric of USAGE_METRICS) into[metric] += more[metric];
}

/** One instance's totals for one tenant and period, by route label. */
export interface UsageRecord {
  tenant: string;
  periodStart: number;
  instance: string;
  routes: Record<string, Usage>;
  updatedAt: string;
}

export const usageRecordId = (periodStart: number, tenant: string, instance: string): string => `${periodStart}.${tenant}.${instance}`;

/** A tenant's usage in one period, summed over instances, in total and by route. */
export function sumUsage(records: Iterable<UsageRecord>, tenant: string, periodStart: number): { total: Usage; routes: Record<string, Usage> } {
  const total = emptyUsage();
  const routes: Record<string, Usage> = {};
  for (const record of records) {
    if (record.tenant !== tenant || record.periodStart !== periodStart) continue;
    for (const [route, usage] of Object.entries(record.routes)) {
      addUsage(total, usage);
      addUsage((routes[route] ??= emptyUsage()), usage);
    }
  }
  return { total, routes };
}
