/**
 * Meters tenants' usage into the state store (shared/billing/usage.ts explains the records).
 * Once a second: the cluster's cumulative figures per route, minus what was seen the tick before,
 * go to the route's tenant in the period of this tick; then every tenant total that changed is
 * written as an absolute value. A write that fails stays pending and is written again on the next
 * tick, so nothing metered is lost while Redis is briefly away, and nothing is counted twice.
 */
import type { Logger } from '../../shared/log.js';
import type { RequestMetricsReport } from '../../shared/metrics-report.js';
import type { VelofluxConfig } from '../../shared/config/schema.js';
import type { StateStore } from '../../shared/state/store.js';
import { periodAt } from '../../shared/billing/billing-period.js';
import { addUsage, emptyUsage, USAGE_METRICS, USAGE_NAMESPACE, usageRecordId, type Usage, type UsageRecord } from '../../shared/billing/usage.js';
import { routeUsage } from './route-usage.js';

export interface UsageMeterSources {
  readonly store: StateStore;
  /** This instance (a new id every start, so a restart's totals start from zero beside the old ones). */
  readonly instance: string;
  config(): Readonly<VelofluxConfig>;
  /** The cluster's request metrics, cumulative since this instance started. */
  metrics(): RequestMetricsReport;
  readonly log: Logger;
}

export class UsageMeter {
  readonly #sources: UsageMeterSources;
  /** Cumulative figures per route label at the last tick. */
  #seen = new Map<string, Usage>();
  /** This instance's totals by record id. */
  readonly #records = new Map<string, UsageRecord>();
  /** Record ids whose latest totals are not stored yet. */
  readonly #pending = new Set<string>();
  #writing = false;

  constructor(sources: UsageMeterSources) {
    this.#sources = sources;
  }

  /** Meters what happened since the last call and writes what changed; resolves once written (or left pending). */
  tick(now: number = Date.now()): Promise<void> {
    const config = this.#sources.config();
    const tenantOf = new Map(config.routes.filter((r) => r.tenant !== undefined).map((r) => [`${r.host}${r.path}`, r.tenant!]));
    const periodStart = periodAt(config.billing.period, now).start;
    const current = routeUsage(this.#sources.metrics());
    for (const [route, usage] of current) {
      const tenant = tenantOf.get(route);
      if (tenant === undefined) continue;
      const delta = difference(usage, this.#seen.get(route));
      if (delta === undefined) continue;
      const id = usageRecordId(periodStart, tenant, this.#sources.instance);
      let record = this.#records.get(id);
      if (record === undefined) this.#records.set(id, (record = { tenant, periodStart, instance: this.#sources.instance, routes: {}, updatedAt: '' }));
      addUsage((record.routes[route] ??= emptyUsage()), delta);
      record.updatedAt = new Date(now).toISOString();
      this.#pending.add(id);
    }
    this.#seen = current;
    this.#forgetClosedPeriods(periodStart);
    return this.flush();
  }

  /** Writes every pending record; resolves when done (or when a write failed: it stays pending). */
  async flush(): Promise<void> {
    if (this.#writing) return;
    this.#writing = true;
    try {
      for (const id of [...this.#pending]) {
        const record = this.#records.get(id);
        this.#pending.delete(id);
        if (record === undefined) continue;
        try {
          await this.#sources.store.put(USAGE_NAMESPACE, id, structuredClone(record));
        } catch (err) {
          this.#pending.add(id);
          this.#sources.log.warn({ err: (err as Error).message, record: id }, 'could not store metered usage; retrying on the next tick');
          return;
        }
      }
    } finally {
      this.#writing = false;
    }
  }

  /** Records of earlier periods are kept in memory only until stored: they no longer change. */
  #forgetClosedPeriods(periodStart: number): void {
    for (const [id, record] of this.#records) if (record.periodStart < periodStart && !this.#pending.has(id)) this.#records.delete(id);
  }
}

/** What grew since `before`, or undefined when nothing did. A figure that went back counts as 0. */
function difference(now: Usage, before: Usage | undefined): Usage | undefined {
  const delta = emptyUsage();
  let grew = false;
  for (const metric of USAGE_METRICS) {
    const d = now[metric] - (before?.[metric] ?? 0);
    if (d > 0) {
      delta[metric] = d;
      grew = true;
    }
  }
  return grew ? delta : undefined;
}
