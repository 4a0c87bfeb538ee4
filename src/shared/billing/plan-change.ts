/**
 * Plan changes (issue 16) and their proration. A change made during a period is recorded
 * (namespace `plan-changes`) with the lines it adds to that period's invoice: the unused time of
 * the old plan credited, the rest of the period on the new plan charged. $10 -> $20 halfway through
 * is -$5 + $10 = +$5 on top of the $10 fee already due for the period.
 *
 * Rounding: each line is `price x remaining / length` rounded to the nearest minor unit, a half
 * away from zero (so the credit and the charge of equal prices cancel exactly), computed in BigInt.
 * `remaining` and `length` are milliseconds.
 */
import type { PlanConfig } from '../config/schema.js';
import type { BillingPeriod } from './billing-period.js';
import type { InvoiceLine } from './invoice.js';

export const PLAN_CHANGES_NAMESPACE = 'plan-changes';

export interface PlanChange {
  tenant: string;
  /** When it took effect, ms since epoch. */
  at: number;
  /** Start of the period whose invoice carries the prorations. */
  periodStart: number;
  from: string;
  to: string;
  /** Applied at the period's end (a scheduled downgrade): no prorations. */
  scheduled: boolean;
  prorations: InvoiceLine[];
  by: string;
}

export const planChangeId = (change: Pick<PlanChange, 'tenant' | 'at' | 'to'>): string => `${change.tenant}.${change.at}.${change.to}`;

/** `price x part / whole`, rounded to the nearest integer, halves away from zero. */
export function prorate(price: number, part: number, whole: number): number {
  const numerator = BigInt(price) * BigInt(Math.round(part));
  const denominator = BigInt(Math.round(whole));
  return Number((2n * numerator + denominator) / (2n * denominator));
}

/** The lines a change from `from` to `to` at `at` adds to the invoice of `period`. */
export function prorationLines(from: Pick<PlanConfig, 'name' | 'price'>, to: Pick<PlanConfig, 'name' | 'price'>, period: BillingPeriod, at: number): InvoiceLine[] {
  const length = period.end - period.start;
  const remaining = Math.min(length, Math.max(0, period.end - at));
  const share = `${((remaining / length) * 100).toFixed(1)}% of the period`;
  const credit = prorate(from.price, remaining, length);
  const charge = prorate(to.price, remaining, length);
  return [
    { kind: 'proration', description: `Unused time on ${from.name} (${share})`, quantity: 1, unitPrice: -credit, per: 1, amount: -credit },
    { kind: 'proration', description: `Remaining time on ${to.name} (${share})`, quantity: 1, unitPrice: charge, per: 1, amount: charge },
  ];
}

/**
 * The plan a tenant was on at `at`: the `from` of the first change after it, or the plan its
 * record names now when there was none since. `changes` are the tenant's, in any order.
 */
export function planAt(changes: readonly PlanChange[], current: string, at: number): string {
  let first: PlanChange | undefined;
  for (const change of changes) if (change.at > at && (first === undefined || change.at < first.at)) first = change;
  return first?.from ?? current;
}
