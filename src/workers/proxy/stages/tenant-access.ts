/**
 * Routes that name a tenant (`routes[].tenant`) serve only while the tenant may be served: a
 * suspended tenant's requests get 403, a tenant whose hard request quota is used up gets 429
 * until its billing period ends (Retry-After and the reset time say when), and its plan's
 * requests/s goes through the cluster-wide limiter with one bucket per tenant. Everything read
 * here is local (tenant-standings.ts): no I/O per request.
 */
import type { BillingConfig, RouteConfig } from '../../../shared/config/schema.js';
import { PLAN_POLICY_PREFIX } from '../../../shared/billing/plan-rate-limits.js';
import type { RateLimiter } from '../../rate-limit/rate-limiter.js';
import type { TenantStandings } from '../../tenancy/tenant-standings.js';
import type { Exchange } from '../exchange.js';
import type { RequestStage } from './request-stage.js';
import type { StageContext } from './pipeline.js';

export class TenantAccessStage implements RequestStage {
  readonly #tenant: string;
  readonly #standings: TenantStandings;
  /** Configured plan id -> its limiter (null: the plan sets no requests/s). */
  readonly #limiters: ReadonlyMap<string, RateLimiter | null>;
  /** For a tenant whose record names no configured plan. */
  readonly #defaultLimiter: RateLimiter | null;

  constructor(tenant: string, standings: TenantStandings, billing: BillingConfig, rateLimiters: ReadonlyMap<string, RateLimiter>) {
    this.#tenant = tenant;
    this.#standings = standings;
    this.#limiters = new Map(billing.plans.map((plan) => [plan.id, rateLimiters.get(`${PLAN_POLICY_PREFIX}${plan.id}`) ?? null]));
    this.#defaultLimiter = billing.defaultPlan === undefined ? null : (this.#limiters.get(billing.defaultPlan) ?? null);
  }

  static for(route: RouteConfig, context: StageContext): RequestStage | undefined {
    return route.tenant === undefined ? undefined : new TenantAccessStage(route.tenant, context.tenants, context.billing, context.rateLimiters);
  }

  admit(exchange: Exchange): boolean {
    const standing = this.#standings.of(this.#tenant);
    if (standing.suspended) {
      exchange.refuse('VF_ERR_TENANT_SUSPENDED');
      return false;
    }
    if (standing.quotaResetAt !== 0) {
      const now = Date.now();
      if (standing.quotaResetAt > now) {
        exchange.refuse('VF_ERR_QUOTA_EXCEEDED', ['retry-after', String(Math.ceil((standing.quotaResetAt - now) / 1000)), 'x-quota-reset', new Date(standing.quotaResetAt).toISOString()]);
        return false;
      }
    }
    const limiter = standing.plan !== undefined && this.#limiters.has(standing.plan) ? this.#limiters.get(standing.plan)! : this.#defaultLimiter;
    if (limiter === null) return true;
    const now = performance.now();
    if (limiter.take(this.#tenant, now)) return true;
    exchange.telemetry.requests.count('rateLimited', exchange.routeLabel, limiter.name);
    exchange.refuse('VF_ERR_RATE_LIMITED', limiter.refusalHeaders(this.#tenant, now));
    return false;
  }
}
