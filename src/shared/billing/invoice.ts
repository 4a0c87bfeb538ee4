/**
 * Invoices (issue 16): one per tenant and closed billing period, written by the leader
 * (primary/billing/period-closer.ts) through the ledger (invoice-ledger.ts), which numbers them
 * without gaps. Every amount is an integer in the currency's minor unit; `total` is the exact sum
 * of the lines and may be negative when a downgrade's credit outweighs the charges.
 *
 * What a period's invoice charges (arrears, like a metered Stripe subscription):
 * - the fee of the plan the tenant was on when the period started;
 * - the proration lines of every plan change made during the period (plan-change.ts), which
 *   adjust that fee for the time spent on other plans;
 * - overage of the period's usage, tier by tier, priced on the plan in force when it ended.
 */
import type { PlanConfig } from '../config/schema.js';
import type { BillingPeriod } from './billing-period.js';
import type { PlanChange } from './plan-change.js';
import { usageCost, type TierCharge } from './pricing.js';
import type { Usage } from './usage.js';

export const INVOICES_NAMESPACE = 'invoices';

export const INVOICE_STATUSES = ['open', 'paid', 'void'] as const;
export type InvoiceStatus = (typeof INVOICE_STATUSES)[number];

export interface InvoiceLine {
  kind: 'plan' | 'overage' | 'proration';
  description: string;
  /** requests or bytes, for overage lines. */
  metric?: 'requests' | 'bytes';
  quantity: number;
  /** Minor units per `per` units. */
  unitPrice: number;
  per: number;
  /** Minor units; negative for a credit. */
  amount: number;
}

/** An invoice before the ledger gives it its number. */
export interface InvoiceDraft {
  tenant: string;
  /** ms since epoch, the period's first instant (with `tenant`, what makes an invoice unique). */
  periodStart: number;
  period: { start: string; end: string };
  currency: string;
  /** The plan in force when the period ended (null: the tenant had none). */
  plan: { id: string; name: string } | null;
  lines: InvoiceLine[];
  total: number;
  usage: Usage;
}

export interface Invoice extends InvoiceDraft {
  /** 1, 2, 3, ... across all tenants, without gaps. */
  number: number;
  status: InvoiceStatus;
  issuedAt: string;
  /** When it was marked paid or void. */
  statusChangedAt?: string;
}

export interface InvoiceInputs {
  tenant: string;
  period: BillingPeriod;
  /** The plan when the period started (its fee is charged), and when it ended (prices the overage). */
  planAtStart: PlanConfig | undefined;
  planAtEnd: PlanConfig | undefined;
  usage: Usage;
  /** Plan changes made during the period, oldest first. */
  changes: readonly PlanChange[];
}

export function draftInvoice(inputs: InvoiceInputs): InvoiceDraft {
  const { planAtStart, planAtEnd, usage, period } = inputs;
  const lines: InvoiceLine[] = [];
  if (planAtStart !== undefined) {
    lines.push({ kind: 'plan', description: `${planAtStart.name} plan`, quantity: 1, unitPrice: planAtStart.price, per: 1, amount: planAtStart.price });
  }
  for (const change of inputs.changes) lines.push(...change.prorations);
  if (planAtEnd !== undefined) {
    const cost = usageCost(planAtEnd, usage);
    lines.push(...overageLines('requests', cost.lines.requests, planAtEnd.included.requests));
    lines.push(...overageLines('bytes', cost.lines.bytes, planAtEnd.included.bytes));
  }
  const plan = planAtEnd ?? planAtStart;
  return {
    tenant: inputs.tenant,
    periodStart: period.start,
    period: { start: new Date(period.start).toISOString(), end: new Date(period.end).toISOString() },
    currency: plan?.currency ?? 'USD',
    plan: plan === undefined ? null : { id: plan.id, name: plan.name },
    lines,
    total: lines.reduce((sum, line) => sum + line.amount, 0),
    usage: { ...usage },
  };
}

function overageLines(metric: 'requests' | 'bytes', charges: readonly TierCharge[], included: number): InvoiceLine[] {
  let from = included;
  return charges.map((charge, i) => {
    const to = from + charge.quantity;
    const line: InvoiceLine = { kind: 'overage', metric, description: `${metric} ${from + 1}-${to} (tier ${i + 1})`, quantity: charge.quantity, unitPrice: charge.price, per: charge.per, amount: charge.amount };
    from = to;
    return line;
  });
}
