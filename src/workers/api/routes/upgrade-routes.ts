/**
 * POST /api/billing/upgrade {plan, tenant?, immediate?, preview?} (issue 16): moves a tenant to another
 * plan (shared/billing/plan-switch.ts says when it applies and what it prorates). Operators and
 * admins of the tenant, or of the platform naming `tenant`; viewers get 403, another tenant 404.
 * With an `Idempotency-Key` header the same request repeated changes nothing twice and gets the
 * first answer back (shared/http/idempotency.ts).
 */
import type { FastifyInstance } from 'fastify';
import { VelofluxError } from '../../../shared/errors.js';
import { PlanSwitch } from '../../../shared/billing/plan-switch.js';
import { billingEventId, enqueueBillingEvent } from '../../../shared/billing/billing-events.js';
import type { ApiContext } from '../api-context.js';
import { principalOf } from '../authenticate.js';
import { IdempotentRequests } from '../../../shared/http/idempotency.js';
import { bearer, idPattern, withErrors } from '../schemas.js';
import { notFound, seesTenant } from '../tenants.js';

const anyObject = { type: 'object', additionalProperties: true } as const;

interface UpgradeBody {
  plan: string;
  tenant?: string;
  immediate?: boolean;
  preview?: boolean;
}

export function registerUpgradeRoutes(app: FastifyInstance, context: ApiContext): void {
  const plans = new PlanSwitch(context.state, context.config);
  const idempotent = new IdempotentRequests(context.state);

  app.post<{ Body: UpgradeBody }>(
    '/api/billing/upgrade',
    {
      schema: {
        tags: ['billing'],
        summary: "Move a tenant to another plan: dearer ones at once with proration lines on this period's invoice, cheaper ones at the period's end unless immediate (Idempotency-Key honoured)",
        security: bearer,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['plan'],
          properties: { plan: { type: 'string', minLength: 1, maxLength: 64 }, tenant: { type: 'string', pattern: idPattern }, immediate: { type: 'boolean' }, preview: { type: 'boolean' } },
        },
        response: withErrors({ 200: anyObject }, 400, 401, 403, 404, 409),
      },
      onRequest: context.auth.require('operator'),
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const tenant = request.body.tenant ?? principal.tenant;
      if (tenant === null) throw new VelofluxError('VF_ERR_VALIDATION', 'name the tenant: {"tenant": "<id>"}');
      if (!seesTenant(principal, tenant) || (await context.tenants.get(tenant)) === undefined) throw notFound(tenant);
      // A preview (the dashboard's proration preview) changes nothing, so it needs no idempotency record.
      if (request.body.preview === true) return plans.change({ tenant, plan: request.body.plan, immediate: request.body.immediate === true, by: principal.email, preview: true });
      const action = async () => {
        const result = await plans.change({ tenant, plan: request.body.plan, immediate: request.body.immediate === true, by: principal.email });
        context.log.info({ tenant, from: result.from, to: result.to, effective: result.effective, prorationTotal: result.prorationTotal, by: principal.email }, 'tenant plan change');
        // After the change is stored: an event that cannot be enqueued is logged, the change stands.
        const type = result.effective === 'now' ? 'plan.changed' : 'plan.change_scheduled';
        await enqueueBillingEvent(context.state, context.config().billing, billingEventId(type === 'plan.changed' ? 'plan' : 'plan_scheduled', tenant, Date.parse(result.effectiveAt), result.to), type, result).catch((err: Error) =>
          context.log.warn({ err: err.message, tenant }, `could not enqueue the ${type} event`),
        );
        return { status: 200, body: result };
      };
      const key = request.headers['idempotency-key'];
      if (key === undefined) {
        const answer = await action();
        return reply.code(answer.status).send(answer.body);
      }
      if (Array.isArray(key)) throw new VelofluxError('VF_ERR_VALIDATION', 'one Idempotency-Key header');
      const answer = await idempotent.run(principal.userId, key, { route: '/api/billing/upgrade', tenant, body: request.body }, action);
      if (answer.replayed) void reply.header('idempotent-replayed', 'true');
      return reply.code(answer.status).send(answer.body);
    },
  );
}
