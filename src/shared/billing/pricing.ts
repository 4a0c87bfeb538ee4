/**
 * Plan arithmetic in integer minor units (cents). Graduated tiers price the units that fall inside
 * each tier (Stripe's "graduated" mode): with tiers [upTo 1000 at 0, then 50 per 1000], 2500 units
 * beyond the included amount cost 0 + ceil(1500 x 50 / 1000) = 75. A tier's charge is rounded up to
 * a whole minor unit once, not per unit; BigInt keeps large quantities exact.
 */
import type { PlanConfig } from '../config/schema.js';
import type { Usage } from './usage.js';

type Tiers = NonNullable<PlanConfig['overage']['requests']>;

export interface TierCharge {
  /** Units in this tier. */
  quantity: number;
  /** Minor units per `per` units. */
  price: number;
  per: number;
  /** Minor units, rounded up. */
  amount: number;
}

/** What `units` (already beyond the included amount) cost, tier by tier (tiers with no units left out). */
export function tierCharges(units: number, tiers: Tiers): TierCharge[] {
  const charges: TierCharge[] = [];
  let from = 0;
  for (const tier of tiers) {
    if (units <= from) break;
    const to = tier.upTo === undefined ? units : Math.min(units, tier.upTo);
    const quantity = to - from;
    const cost = BigInt(quantity) * BigInt(tier.price);
    const per = BigInt(tier.per);
    const amount = Number((cost + per - 1n) / per);
    charges.push({ quantity, price: tier.price, per: tier.per, amount });
    from = to;
  }
  return charges;
}

export interface UsageCost {
  /** Units beyond the included amount, per billed metric. */
  overage: { requests: number; bytes: number };
  /** Plan fee plus every overage tier, minor units. */
  total: number;
  lines: { requests: TierCharge[]; bytes: TierCharge[] };
}

/** The cost of one period's usage on `plan` so far: the fee plus overage (bytes are in and out together). */
export function usageCost(plan: PlanConfig, usage: Usage): UsageCost {
  const overRequests = Math.max(0, usage.requests - plan.included.requests);
  const overBytes = Math.max(0, usage.bytesIn + usage.bytesOut - plan.included.bytes);
  const requests = plan.overage.requests === undefined ? [] : tierCharges(overRequests, plan.overage.requests);
  const bytes = plan.overage.bytes === undefined ? [] : tierCharges(overBytes, plan.overage.bytes);
  const total = plan.price + [...requests, ...bytes].reduce((sum, line) => sum + line.amount, 0);
  return { overage: { requests: overRequests, bytes: overBytes }, total, lines: { requests, bytes } };
}
