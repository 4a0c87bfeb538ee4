/**
 * Warns once per tenant, period and threshold when its requests reach 80% and 100% of its quota
 * (shared/billing/quota-warning.ts), on the leader, for hard and soft quotas alike: the event goes
 * to the billing outbox first (its id is derived from tenant, period and threshold, so doing it
 * again enqueues nothing), then the warning record that marks it done; a leader that stops between
 * the two leaves the next one to write the record, never a missing event.
 */
import type { Logger } from '../../shared/log.js';
import type { VelofluxConfig } from '../../shared/config/schema.js';
import type { StateStore } from '../../shared/state/store.js';
import { TENANTS_NAMESPACE } from '../../shared/state/namespaces.js';
import { periodAt } from '../../shared/billing/billing-period.js';
import { effectivePlanId } from '../../shared/billing/plan-rate-limits.js';
import { USAGE_NAMESPACE, sumUsage, type UsageRecord } from '../../shared/billing/usage.js';
import { billingEventId, enqueueBillingEvent } from '../../shared/billing/billing-events.js';
import { QUOTA_THRESHOLDS, QUOTA_WARNINGS_NAMESPACE, quotaWarningId, type QuotaWarning } from '../../shared/billing/quota-warning.js';

interface TenantRecord {
  plan?: string;
  limits?: { monthlyRequests?: number };
}

export interface QuotaWarningsSources {
  readonly store: StateStore;
  config(): Readonly<VelofluxConfig>;
  isLeader(): boolean;
  readonly log: Logger;
}

export class QuotaWarnings {
  readonly #sources: QuotaWarningsSources;
  /** Warning ids known to be written (so a warned tenant costs no store read per tick). */
  readonly #written = new Set<string>();
  #running = false;

  constructor(sources: QuotaWarningsSources) {
    this.#sources = sources;
  }

  async check(now: number = Date.now()): Promise<void> {
    if (this.#running || !this.#sources.isLeader()) return;
    this.#running = true;
    try {
      await this.#check(now);
    } catch (err) {
      this.#sources.log.warn({ err: (err as Error).message }, 'could not check quota warnings; trying again on the next tick');
    } finally {
      this.#running = false;
    }
  }

  async #check(now: number): Promise<void> {
    const { store, log } = this.#sources;
    const billing = this.#sources.config().billing;
    const period = periodAt(billing.period, now);
    for (const id of this.#written) if (!id.startsWith(`${period.start}.`)) this.#written.delete(id);
    const tenants = await store.list<TenantRecord>(TENANTS_NAMESPACE);
    let usage: UsageRecord[] | undefined;
    for (const [tenant, { value: record }] of tenants) {
      const plan = billing.plans.find((p) => p.id === effectivePlanId(billing, record.plan));
      const quota = record.limits?.monthlyRequests ?? plan?.limits.monthlyRequests;
      if (quota === undefined) continue;
      const pending = QUOTA_THRESHOLDS.filter((threshold) => !this.#written.has(quotaWarningId({ periodStart: period.start, tenant, threshold })));
      if (pending.length === 0) continue;
      usage ??= [...(await store.list<UsageRecord>(USAGE_NAMESPACE)).values()].map((r) => r.value);
      const used = sumUsage(usage, tenant, period.start).total.requests;
      for (const threshold of pending) {
        if (used * 100 < quota * threshold) continue;
        const warning: QuotaWarning = { tenant, threshold, used, quota, mode: plan?.limits.quota ?? 'hard', periodStart: period.start, periodEnd: period.end, at: new Date(now).toISOString() };
        const id = quotaWarningId(warning);
        if ((await store.get(QUOTA_WARNINGS_NAMESPACE, id)) === undefined) {
          await enqueueBillingEvent(store, billing, billingEventId('quota', tenant, period.start, threshold), 'quota.warning', warning, now);
          try {
            await store.put(QUOTA_WARNINGS_NAMESPACE, id, warning, { expectedVersion: 0 });
            log.info({ tenant, threshold, used, quota, mode: warning.mode }, `tenant reached ${threshold}% of its request quota`);
          } catch (err) {
            if ((err as { code?: unknown }).code !== 'VF_ERR_STATE_CONFLICT') throw err;
          }
        }
        this.#written.add(id);
      }
    }
  }
}
