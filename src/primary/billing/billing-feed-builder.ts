/**
 * Builds the billing stream's feed (shared/billing/billing-feed.ts) on every instance: usage of
 * every tenant every BILLING_FEED_MS, and, as soon as the state store reports a new invoice or
 * quota warning (made by whichever instance leads), one more feed carrying it. A worker that starts
 * gets the latest usage (without events that already went out).
 */
import type { Logger } from '../../shared/log.js';
import type { VelofluxConfig } from '../../shared/config/schema.js';
import type { StateStore } from '../../shared/state/store.js';
import { TENANTS_NAMESPACE } from '../../shared/state/namespaces.js';
import { BILLING_FEED_MS, type BillingFeed, type BillingStreamEvent } from '../../shared/billing/billing-feed.js';
import { INVOICES_NAMESPACE, type Invoice } from '../../shared/billing/invoice.js';
import { QUOTA_WARNINGS_NAMESPACE, type QuotaWarning } from '../../shared/billing/quota-warning.js';
import { USAGE_NAMESPACE, type UsageRecord } from '../../shared/billing/usage.js';
import { usageSummary, type TenantPlanRef, type UsageSummary } from '../../shared/billing/usage-summary.js';

/** Events arriving together go out in one feed. */
const EVENT_DELAY_MS = 100;

export interface BillingFeedSources {
  readonly store: StateStore;
  config(): Readonly<VelofluxConfig>;
  publish(feed: BillingFeed): void;
  readonly log: Logger;
}

export class BillingFeedBuilder {
  readonly #sources: BillingFeedSources;
  #tenants: Record<string, UsageSummary> = {};
  #events: BillingStreamEvent[] = [];
  #timer: NodeJS.Timeout | undefined;
  #eventTimer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #building = false;

  constructor(sources: BillingFeedSources) {
    this.#sources = sources;
  }

  start(): void {
    this.#unsubscribe = this.#sources.store.onChange((change) => {
      // Version 1: the record was just created (a later version is a status change, not news).
      if (change.deleted || change.version !== 1) return;
      if (change.namespace === INVOICES_NAMESPACE) {
        const i = change.value as Invoice;
        this.#event({ type: 'invoice.closed', tenant: i.tenant, invoice: { number: i.number, tenant: i.tenant, period: i.period, plan: i.plan, total: i.total, currency: i.currency, status: i.status, issuedAt: i.issuedAt } });
      } else if (change.namespace === QUOTA_WARNINGS_NAMESPACE) {
        const warning = change.value as QuotaWarning;
        this.#event({ type: 'quota.warning', tenant: warning.tenant, warning });
      }
    });
    this.#timer = setInterval(() => void this.#build(), BILLING_FEED_MS);
    this.#timer.unref();
    void this.#build();
  }

  stop(): void {
    clearInterval(this.#timer);
    clearTimeout(this.#eventTimer);
    this.#unsubscribe?.();
  }

  /** The latest usage, for a worker that just started. */
  latest(): BillingFeed {
    return { ts: Date.now(), tenants: this.#tenants, events: [] };
  }

  #event(event: BillingStreamEvent): void {
    this.#events.push(event);
    this.#eventTimer ??= setTimeout(() => {
      this.#eventTimer = undefined;
      void this.#build();
    }, EVENT_DELAY_MS);
  }

  async #build(): Promise<void> {
    if (this.#building) return;
    this.#building = true;
    const { store } = this.#sources;
    try {
      const [tenants, usage] = await Promise.all([store.list<TenantPlanRef>(TENANTS_NAMESPACE), store.list<UsageRecord>(USAGE_NAMESPACE)]);
      const records = [...usage.values()].map((r) => r.value);
      const billing = this.#sources.config().billing;
      const now = Date.now();
      const summaries: Record<string, UsageSummary> = {};
      for (const [id, { value }] of tenants) summaries[id] = usageSummary(billing, id, value, records, now);
      this.#tenants = summaries;
    } catch (err) {
      // Redis away: the last usage goes out again (events are not held back for it).
      this.#sources.log.debug({ err: (err as Error).message }, 'could not read usage for the billing stream');
    } finally {
      this.#building = false;
    }
    const events = this.#events;
    this.#events = [];
    this.#sources.publish({ ts: Date.now(), tenants: this.#tenants, events });
  }
}
