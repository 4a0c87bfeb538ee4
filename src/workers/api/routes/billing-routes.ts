/**
 * GET /api/billing/plans and /api/billing/usage (issue 16). Usage is what the primaries metered
 * into the state store (shared/billing/usage.ts), summed over instances, for the current billing
 * period: per metric used, included and overage, the cost so far (plan fee plus overage tiers, in
 * minor units) and the request quota's remaining share. A tenant's users get their own tenant's;
 * platform users name the tenant (`?tenant=`). Another tenant is "not found", as everywhere.
 */
import type { FastifyInstance } from 'fastify';
import { USAGE_NAMESPACE, type UsageRecord } from '../../../shared/billing/usage.js';
import { usageSummary } from '../../../shared/billing/usage-summary.js';
import type { ApiContext } from '../api-context.js';
import { principalOf } from '../authenticate.js';
import { bearer, withErrors } from '../schemas.js';
import { notFound, tenantAskedFor, tenantQuerySchema } from '../tenants.js';

const anyObject = { type: 'object', additionalProperties: true } as const;

export function registerBillingRoutes(app: FastifyInstance, context: ApiContext): void {
  app.get(
    '/api/billing/plans',
    { schema: { tags: ['billing'], summary: 'The plans tenants may be on, with prices, included usage, overage tiers and limits (amounts in minor units)', security: bearer, response: withErrors({ 200: anyObject }, 401) }, onRequest: context.auth.require('viewer') },
    async () => {
      const { billing } = context.config();
      return { period: billing.period, defaultPlan: billing.defaultPlan ?? null, plans: billing.plans };
    },
  );

  app.get<{ Querystring: { tenant?: string } }>(
    '/api/billing/usage',
    {
      schema: {
        tags: ['billing'],
        summary: "A tenant's metered usage in the current billing period against its plan: used, included, overage, cost so far, quota left",
        security: bearer,
        querystring: tenantQuerySchema,
        response: withErrors({ 200: anyObject }, 400, 401, 404),
      },
      onRequest: context.auth.require('viewer'),
    },
    async (request) => {
      const id = tenantAskedFor(principalOf(request), request.query.tenant);
      const tenant = await context.tenants.get(id);
      if (tenant === undefined) throw notFound(id);
      const records = [...(await context.state.list<UsageRecord>(USAGE_NAMESPACE)).values()].map((r) => r.value);
      return usageSummary(context.config().billing, id, tenant, records, Date.now());
    },
  );
}
