/**
 * Billing periods: calendar months in UTC by default (`billing.period: month`), or fixed lengths
 * counted from the Unix epoch (`billing.period: 10m`), so tests and demos can see one close.
 */
import type { BillingConfig } from '../config/schema.js';

export interface BillingPeriod {
  /** ms since epoch, inclusive. */
  readonly start: number;
  /** ms since epoch, exclusive: the next period's start. */
  readonly end: number;
}

export function periodAt(period: BillingConfig['period'], at: number): BillingPeriod {
  if (period === 'month') {
    const date = new Date(at);
    const start = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
    const end = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
    return { start, end };
  }
  const start = Math.floor(at / period) * period;
  return { start, end: start + period };
}
