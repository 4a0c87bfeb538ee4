/**
 * Closes billing periods into invoices (issue 16), on the leader only: once a period has ended
 * and CLOSE_GRACE_MS more have passed (every instance's meter has written its last totals for it
 * by then: they write once a second), every tenant that existed during the period gets its
 * invoice for it through the ledger, which numbers it and makes sure it is closed exactly once
 * even if a former leader is still at it (invoice-ledger.ts). Usage metered for a period after it
 * closed is not billed. Only the period just ended is closed: periods that ended while no
 * instance was running are not invoiced afterwards.
 */
import type { Logger } from '../../shared/log.js';
import type { BillingConfig, PlanConfig, VelofluxConfig } from '../../shared/config/schema.js';
import type { StateStore } from '../../shared/state/store.js';
import { TENANTS_NAMESPACE } from '../../shared/state/namespaces.js';
import { periodAt, type BillingPeriod } from '../../shared/billing/billing-period.js';
import { effectivePlanId } from '../../shared/billing/plan-rate-limits.js';
import { draftInvoice, type Invoice } from '../../shared/billing/invoice.js';
import { InvoiceLedger } from '../../shared/billing/invoice-ledger.js';
import { PLAN_CHANGES_NAMESPACE, planAt, type PlanChange } from '../../shared/billing/plan-change.js';
import { USAGE_NAMESPACE, sumUsage, type UsageRecord } from '../../shared/billing/usage.js';

/** How long after a period's end it is closed. */
export const CLOSE_GRACE_MS = 2000;

interface TenantRecord {
  id: string;
  plan?: string;
  createdAt?: string;
}

export interface PeriodCloserSources {
  readonly store: StateStore;
  config(): Readonly<VelofluxConfig>;
  isLeader(): boolean;
  /**
   * Runs for every invoice written, before its claim in the ledger is cleared, also for one a
   * crashed closer left pending (invoice-ledger.ts): at least once per invoice.
   */
  invoiceWritten?(invoice: Invoice): Promise<void>;
  /** Runs on the leader before a period is closed (scheduled plan changes take effect at its end). */
  beforeClose?(period: BillingPeriod, now: number): Promise<void>;
  readonly log: Logger;
}

export class PeriodCloser {
  readonly #sources: PeriodCloserSources;
  readonly #ledger: InvoiceLedger;
  /** Start of the last period this instance saw closed for every tenant. */
  #closedThrough = -Infinity;
  #running = false;

  constructor(sources: PeriodCloserSources) {
    this.#sources = sources;
    this.#ledger = new InvoiceLedger(sources.store, { onWritten: async (invoice) => sources.invoiceWritten?.(invoice) });
  }

  async tick(now: number = Date.now()): Promise<void> {
    if (this.#running || !this.#sources.isLeader()) return;
    this.#running = true;
    try {
      await this.#tick(now);
    } catch (err) {
      this.#sources.log.warn({ err: (err as Error).message }, 'could not close the billing period; trying again on the next tick');
    } finally {
      this.#running = false;
    }
  }

  async #tick(now: number): Promise<void> {
    const billing = this.#sources.config().billing;
    const current = periodAt(billing.period, now);
    await this.#sources.beforeClose?.(current, now);
    await this.#ledger.recover();
    if (now < current.start + CLOSE_GRACE_MS) return;
    const ended = periodAt(billing.period, current.start - 1);
    if (this.#closedThrough >= ended.start) return;
    await this.closePeriod(ended, billing, now);
    this.#closedThrough = ended.start;
  }

  /** Closes `period` for every tenant created before it ended. */
  async closePeriod(period: BillingPeriod, billing: BillingConfig, now: number): Promise<void> {
    const { store, log } = this.#sources;
    const [tenants, usage, changes] = await Promise.all([store.list<TenantRecord>(TENANTS_NAMESPACE), store.list<UsageRecord>(USAGE_NAMESPACE), store.list<PlanChange>(PLAN_CHANGES_NAMESPACE)]);
    const records = [...usage.values()].map((r) => r.value);
    const allChanges = [...changes.values()].map((r) => r.value);
    const planOf = (id: string): PlanConfig | undefined => billing.plans.find((p) => p.id === effectivePlanId(billing, id));
    for (const [id, { value: tenant }] of tenants) {
      if (tenant.createdAt !== undefined && Date.parse(tenant.createdAt) >= period.end) continue;
      const own = allChanges.filter((c) => c.tenant === id);
      const current = tenant.plan ?? '';
      const draft = draftInvoice({
        tenant: id,
        period,
        planAtStart: planOf(planAt(own, current, period.start)),
        planAtEnd: planOf(planAt(own, current, period.end - 1)),
        usage: sumUsage(records, id, period.start).total,
        changes: own.filter((c) => c.periodStart === period.start && !c.scheduled).sort((a, b) => a.at - b.at),
      });
      const { invoice, created } = await this.#ledger.close(draft, now);
      if (!created) continue;
      log.info({ tenant: id, invoice: invoice.number, total: invoice.total, currency: invoice.currency, period: invoice.period }, 'billing period closed into an invoice');
    }
  }
}
