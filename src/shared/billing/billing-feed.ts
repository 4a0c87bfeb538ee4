/**
 * What the primary sends its workers for the `/api/ws/billing` stream (issue 16): every tenant's
 * usage summary, every BILLING_FEED_MS, plus the billing events since the last feed (a quota
 * warning, a closed invoice), sent at once when one happens. Each primary hears the events from
 * the state store's change events (with Redis, every instance's), so a client on any worker of any
 * instance sees them.
 */
import type { Invoice } from './invoice.js';
import type { QuotaWarning } from './quota-warning.js';
import type { UsageSummary } from './usage-summary.js';

export const BILLING_FEED_MS = 2000;

export type BillingStreamEvent =
  | { type: 'quota.warning'; tenant: string; warning: QuotaWarning }
  | { type: 'invoice.closed'; tenant: string; invoice: Pick<Invoice, 'number' | 'tenant' | 'period' | 'plan' | 'total' | 'currency' | 'status' | 'issuedAt'> };

export interface BillingFeed {
  ts: number;
  /** By tenant id. */
  tenants: Record<string, UsageSummary>;
  events: BillingStreamEvent[];
}
