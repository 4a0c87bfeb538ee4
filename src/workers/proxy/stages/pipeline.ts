/**
 * Compiles each route's request stages once per snapshot (as fastify precomputes per-route work
 * at registration): the request path then only runs the list it finds on the matched route.
 * To add a stage: write it beside the others (a class with `admit` and a static `for`), then add
 * it to STAGES where it belongs in the order.
 */
import type { BillingConfig, RouteConfig } from '../../../shared/config/schema.js';
import type { RateLimiter } from '../../rate-limit/rate-limiter.js';
import type { TenantStandings } from '../../tenancy/tenant-standings.js';
import type { SecurityPolicy } from '../../security/security-policy.js';
import { RateLimitStage } from './rate-limit.js';
import { TenantAccessStage } from './tenant-access.js';
import { RedirectHttpsStage, type ListenerPorts } from './redirect-https.js';
import type { RequestStage } from './request-stage.js';
import { SecurityStage } from './security.js';

/** What stages may take from the worker when they are built. */
export interface StageContext {
  readonly ports: ListenerPorts;
  /** The rate-limit policies' limiters by name, plans' included (they outlive snapshots, see RateLimitRegistry). */
  readonly rateLimiters: ReadonlyMap<string, RateLimiter>;
  /** Each tenant's status, plan and quota, kept current from the state replica. */
  readonly tenants: TenantStandings;
  readonly billing: BillingConfig;
  /** The top-level `security` section, compiled once per snapshot (address lists, route defaults). */
  readonly security: SecurityPolicy;
  /** Compile for a moment when the live address lists have entries: every route then checks them. */
  readonly withLiveIpLists?: boolean;
}

/** Builds a route's stage, or undefined when the route does not use it. */
type StageFactory = (route: RouteConfig, context: StageContext) => RequestStage | undefined;

/** In the order a request meets them: an attack is refused before it costs a tenant quota or a token. */
const STAGES: readonly StageFactory[] = [RedirectHttpsStage.for, SecurityStage.for, TenantAccessStage.for, RateLimitStage.for];

const NONE: readonly RequestStage[] = Object.freeze([]);

/**
 * A route's stages, and the ones it runs while the live address lists have entries (they change
 * under a snapshot, so both are compiled; a route that has the security stage anyway shares one list).
 */
export function compileRouteStages(route: RouteConfig, context: StageContext): { stages: readonly RequestStage[]; guardedStages: readonly RequestStage[] } {
  const stages = compileStages(route, context);
  return { stages, guardedStages: stages.some((stage) => stage instanceof SecurityStage) ? stages : compileStages(route, { ...context, withLiveIpLists: true }) };
}

export function compileStages(route: RouteConfig, context: StageContext): readonly RequestStage[] {
  const stages: RequestStage[] = [];
  for (const factory of STAGES) {
    const stage = factory(route, context);
    if (stage !== undefined) stages.push(stage);
  }
  return stages.length === 0 ? NONE : stages;
}
