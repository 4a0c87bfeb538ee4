/**
 * POST /api/alerts/webhook (Alertmanager's webhook receiver, with the bearer token configured for
 * it) and GET /api/alerts. Alerts are kept by the primary and pushed on the health stream.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { VelofluxError } from '../../../shared/errors.js';
import type { ApiContext } from '../api-context.js';
import { bearerTokenOf } from '../authenticate.js';
import { bearer, withErrors } from '../schemas.js';

/** Alertmanager's webhook payload (version 4), loosely: it may add fields. */
const webhookPayload = {
  type: 'object',
  required: ['alerts'],
  properties: {
    version: { type: 'string' },
    status: { type: 'string' },
    receiver: { type: 'string' },
    alerts: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        required: ['status', 'labels'],
        properties: {
          status: { type: 'string', enum: ['firing', 'resolved'] },
          labels: { type: 'object', additionalProperties: { type: 'string' } },
          annotations: { type: 'object', additionalProperties: { type: 'string' } },
          startsAt: { type: 'string' },
          endsAt: { type: 'string' },
          generatorURL: { type: 'string' },
          fingerprint: { type: 'string' },
        },
      },
    },
  },
} as const;

const alertSchema = {
  type: 'object',
  properties: {
    receivedAt: { type: 'string' },
    status: { type: 'string' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    startsAt: { type: 'string' },
    endsAt: { type: 'string' },
    fingerprint: { type: 'string' },
  },
} as const;

function sameSecret(expected: string, presented: string): boolean {
  return timingSafeEqual(createHash('sha256').update(expected).digest(), createHash('sha256').update(presented).digest());
}

export function registerAlertRoutes(app: FastifyInstance, context: ApiContext): void {
  app.post<{ Body: { alerts: unknown[] } }>(
    '/api/alerts/webhook',
    {
      schema: { tags: ['alerts'], summary: "Alertmanager's webhook receiver (bearer token from VELOFLUX_ALERT_WEBHOOK_TOKEN)", security: bearer, body: webhookPayload, response: withErrors({ 200: { type: 'object', properties: { stored: { type: 'integer' } } } }, 400, 401, 404) },
      // The token is checked before the body is parsed and validated: strangers learn nothing.
      onRequest: async (request, reply) => {
        const expected = context.secrets.alertWebhookToken;
        if (expected === undefined) throw new VelofluxError('VF_ERR_WEBHOOK_DISABLED');
        const presented = bearerTokenOf(request);
        if (presented === undefined) {
          void reply.header('www-authenticate', 'Bearer realm="veloflux-alerts"');
          throw new VelofluxError('VF_ERR_AUTH_REQUIRED');
        }
        if (!sameSecret(expected, presented)) throw new VelofluxError('VF_ERR_AUTH_INVALID');
      },
    },
    async (request) => context.rpc.call('alerts.record', { payload: request.body, receivedBy: `worker ${process.pid}` }),
  );

  app.get<{ Querystring: { limit?: string } }>(
    '/api/alerts',
    {
      schema: {
        tags: ['alerts'],
        summary: 'Recent alerts from Alertmanager, newest last',
        security: bearer,
        querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'string', pattern: '^[0-9]{1,3}$' } } },
        response: withErrors({ 200: { type: 'object', properties: { alerts: { type: 'array', items: alertSchema } } } }, 400, 401),
      },
      onRequest: context.auth.require('viewer'),
    },
    async (request) => {
      if (request.principal?.tenant !== null) throw new VelofluxError('VF_ERR_FORBIDDEN', 'alerts are instance-wide: for users without a tenant');
      return context.rpc.call('alerts.list', { limit: Math.min(500, Number(request.query.limit ?? 100)) });
    },
  );
}
