/**
 * A plan's requests/s as a rate limit policy of the cluster-wide limiter (src/primary/rate-limit/):
 * one policy per plan, one bucket per tenant inside it (the tenant stage takes tokens keyed by
 * tenant id), so the workers and instances split each tenant's rate by demand like any policy's.
 * Names start with `plan:`, which no configured policy name can (they allow no colon).
 */
import type { BillingConfig, RateLimitConfig } from '../config/schema.js';

export const PLAN_POLICY_PREFIX = 'plan:';

export function planRateLimits(billing: BillingConfig): RateLimitConfig[] {
  const policies: RateLimitConfig[] = [];
  for (const plan of billing.plans) {
    const rate = plan.limits.requestsPerSecond;
    if (rate === undefined) continue;
    // `key` is not read for these: the tenant stage names the bucket itself.
    policies.push({ name: `${PLAN_POLICY_PREFIX}${plan.id}`, key: 'route', rate, per: 1000, burst: plan.limits.burst ?? rate });
  }
  return policies;
}

/** The plan a tenant's record names, when this config has it; else the default plan (if any). */
export function effectivePlanId(billing: BillingConfig, named: string | undefined): string | undefined {
  if (named !== undefined && billing.plans.some((plan) => plan.id === named)) return named;
  return billing.defaultPlan;
}
