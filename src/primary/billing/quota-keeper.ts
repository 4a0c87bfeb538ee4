/**
 * Hard request quotas (issue 16): once a tenant's requests in the current period reach its quota
 * (`limits.monthlyRequests` of its record, else of its plan), the leader writes a `tenant-quotas`
 * record and every worker of every instance refuses the tenant's routes with 429 until the period
 * ends; a new period, a larger quota or a soft quota removes the record. Usage is summed over all
 * instances' records, so it is the cluster's. Enforcement follows usage by a tick or two (the
 * workers report once a second): a tenant can go over by about that much traffic, which is
 * metered and billed like any other.
 */
import type { Logger } from '../../shared/log.js';
import type { VelofluxConfig } from '../../shared/config/schema.js';
import type { StateStore } from '../../shared/state/store.js';
import { TENANTS_NAMESPACE } from '../../shared/state/namespaces.js';
import { periodAt } from '../../shared/billing/billing-period.js';
import { effectivePlanId } from '../../shared/billing/plan-rate-limits.js';
import { TENANT_QUOTAS_NAMESPACE, type QuotaExhausted } from '../../shared/billing/quota-record.js';
import { USAGE_NAMESPACE, sumUsage, type UsageRecord } from '../../shared/billing/usage.js';

interface TenantRecord {
  plan?: string;
  limits?: { monthlyRequests?: number };
}

export interface QuotaKeeperSources {
  readonly store: StateStore;
  config(): Readonly<VelofluxConfig>;
  /** Only the leader writes (every instance would write the same; one is enough). */
  isLeader(): boolean;
  readonly log: Logger;
}

export class QuotaKeeper {
  readonly #sources: QuotaKeeperSources;
  #checking = false;

  constructor(sources: QuotaKeeperSources) {
    this.#sources = sources;
  }

  async check(now: number = Date.now()): Promise<void> {
    if (this.#checking || !this.#sources.isLeader()) return;
    this.#checking = true;
    try {
      await this.#check(now);
    } catch (err) {
      this.#sources.log.warn({ err: (err as Error).message }, 'could not check tenant quotas; trying again on the next tick');
    } finally {
      this.#checking = false;
    }
  }

  async #check(now: number): Promise<void> {
    const { store } = this.#sources;
    const billing = this.#sources.config().billing;
    const period = periodAt(billing.period, now);
    const [tenants, exhausted] = await Promise.all([store.list<TenantRecord>(TENANTS_NAMESPACE), store.list<QuotaExhausted>(TENANT_QUOTAS_NAMESPACE)]);
    let usage: UsageRecord[] | undefined;
    for (const [tenant, { value: record }] of tenants) {
      const plan = billing.plans.find((p) => p.id === effectivePlanId(billing, record.plan));
      const quota = record.limits?.monthlyRequests ?? plan?.limits.monthlyRequests;
      const hard = quota !== undefined && (plan?.limits.quota ?? 'hard') === 'hard';
      const current = exhausted.get(tenant)?.value;
      if (!hard) {
        if (current !== undefined) await store.delete(TENANT_QUOTAS_NAMESPACE, tenant);
        continue;
      }
      usage ??= [...(await store.list<UsageRecord>(USAGE_NAMESPACE)).values()].map((r) => r.value);
      const used = sumUsage(usage, tenant, period.start).total.requests;
      if (used >= quota) {
        if (current?.periodStart === period.start && current.quota === quota) continue;
        await store.put<QuotaExhausted>(TENANT_QUOTAS_NAMESPACE, tenant, { periodStart: period.start, resetAt: period.end, used, quota });
        this.#sources.log.info({ tenant, used, quota, resetAt: new Date(period.end).toISOString() }, "tenant's request quota is used up: its routes answer 429 until the period ends");
      } else if (current !== undefined) {
        await store.delete(TENANT_QUOTAS_NAMESPACE, tenant);
        this.#sources.log.info({ tenant, used, quota }, "tenant's request quota has room again");
      }
    }
    // Records of tenants that no longer exist.
    for (const tenant of exhausted.keys()) if (!tenants.has(tenant)) await store.delete(TENANT_QUOTAS_NAMESPACE, tenant);
  }
}
