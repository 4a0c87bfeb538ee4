/**
 * A tenant's usage in the current billing period against its plan, as GET /api/billing/usage
 * answers it and the billing stream carries it: per metric used, included and overage, the cost
 * so far (fee plus overage tiers, minor units) and the request quota's remaining share.
 */
import type { BillingConfig } from '../config/schema.js';
import { periodAt } from './billing-period.js';
import { effectivePlanId } from './plan-rate-limits.js';
import { usageCost } from './pricing.js';
import { sumUsage, type Usage, type UsageRecord } from './usage.js';

export interface TenantPlanRef {
  plan?: string;
  limits?: { monthlyRequests?: number };
}

export interface UsageSummary {
  tenant: string;
  plan: { id: string; name: string; price: number; currency: string } | null;
  period: { start: string; end: string };
  usage: Usage;
  included: { requests: number; bytes: number } | null;
  overage: { requests: number; bytes: number } | null;
  costSoFar: { amount: number; currency: string; lines: ReturnType<typeof usageCost>['lines'] } | null;
  quota: { limit: number; used: number; remaining: number; remainingShare: number; mode: 'hard' | 'soft' } | null;
  routes: Record<string, Usage>;
  asOf: string;
}

export function usageSummary(billing: BillingConfig, tenant: string, record: TenantPlanRef, usage: readonly UsageRecord[], now: number): UsageSummary {
  const period = periodAt(billing.period, now);
  const { total, routes } = sumUsage(usage, tenant, period.start);
  const plan = billing.plans.find((p) => p.id === effectivePlanId(billing, record.plan));
  const quota = record.limits?.monthlyRequests ?? plan?.limits.monthlyRequests;
  const cost = plan === undefined ? undefined : usageCost(plan, total);
  return {
    tenant,
    plan: plan === undefined ? null : { id: plan.id, name: plan.name, price: plan.price, currency: plan.currency },
    period: { start: new Date(period.start).toISOString(), end: new Date(period.end).toISOString() },
    usage: total,
    included: plan?.included ?? null,
    overage: cost?.overage ?? null,
    costSoFar: cost === undefined ? null : { amount: cost.total, currency: plan!.currency, lines: cost.lines },
    quota: quota === undefined ? null : { limit: quota, used: total.requests, remaining: Math.max(0, quota - total.requests), remainingShare: Math.max(0, 1 - total.requests / quota), mode: plan?.limits.quota ?? 'hard' },
    routes,
    asOf: new Date(now).toISOString(),
  };
}
