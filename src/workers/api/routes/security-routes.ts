/**
 * The security filter on the main API (issue 17): GET /api/security/events (the stored events of
 * every instance, newest first, filtered), GET /api/security/counts (per minute, last hour) and
 * GET /api/security/rules (the catalogue). Viewers and up; tenant users see their tenant's routes'
 * events and counts only. Events come from this worker's replica: no call to the primary.
 * GET and PUT /api/security/ip-lists: the live address lists, instance-wide, so for users without
 * a tenant; changing them needs an operator. They reach every worker through the state store.
 */
import type { FastifyInstance } from 'fastify';
import { SECURITY_CATEGORIES, SECURITY_RULES, SEVERITY_SCORES } from '../../../shared/security-catalogue.js';
import { IP_LIST_CATEGORY, SECURITY_STORED_EVENTS } from '../../../shared/security-events.js';
import { IP_LISTS_ID, IP_LISTS_NAMESPACE, parseIpLists, type LiveIpListsRecord } from '../../../shared/security-ip-lists.js';
import { VelofluxError } from '../../../shared/errors.js';
import type { ApiContext } from '../api-context.js';
import { principalOf } from '../authenticate.js';
import { bearer, withErrors } from '../schemas.js';

const anyObject = { type: 'object', additionalProperties: true } as const;
const CATEGORIES = [...SECURITY_CATEGORIES, IP_LIST_CATEGORY];

interface EventsQuery {
  category?: string;
  action?: 'blocked' | 'detected';
  route?: string;
  ip?: string;
  since?: string;
  before?: string;
  limit?: string;
}

const eventsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    category: { type: 'string', enum: CATEGORIES },
    action: { type: 'string', enum: ['blocked', 'detected'] },
    route: { type: 'string', maxLength: 512 },
    ip: { type: 'string', maxLength: 64 },
    since: { type: 'string', maxLength: 40, description: 'ISO time or ms since the epoch: events at or after it' },
    before: { type: 'string', maxLength: 40, description: 'ISO time or ms since the epoch: events before it (to page back)' },
    limit: { type: 'string', pattern: '^[0-9]{1,4}$', description: `at most ${SECURITY_STORED_EVENTS}; 100 by default` },
  },
} as const;

export function registerSecurityRoutes(app: FastifyInstance, context: ApiContext): void {
  app.get<{ Querystring: EventsQuery }>(
    '/api/security/events',
    {
      schema: {
        tags: ['security'],
        summary: 'Security filter events (blocked and detected attacks, address-list refusals), newest first; tenant users see their routes only',
        security: bearer,
        querystring: eventsQuery,
        response: withErrors({ 200: { type: 'object', properties: { events: { type: 'array', items: anyObject }, stored: { type: 'integer' } } } }, 400, 401, 403),
      },
      onRequest: context.auth.require('viewer'),
    },
    async (request) => {
      const { tenant } = principalOf(request);
      const q = request.query;
      const events = await context.security.query(tenant, {
        limit: Math.max(1, Math.min(SECURITY_STORED_EVENTS, Number(q.limit ?? 100))),
        ...(q.category !== undefined ? { category: q.category } : {}),
        ...(q.action !== undefined ? { action: q.action } : {}),
        ...(q.route !== undefined ? { route: q.route } : {}),
        ...(q.ip !== undefined ? { client: q.ip } : {}),
        ...(q.since !== undefined ? { since: timeOf(q.since, 'since') } : {}),
        ...(q.before !== undefined ? { before: timeOf(q.before, 'before') } : {}),
      });
      return { events, stored: SECURITY_STORED_EVENTS };
    },
  );

  app.get(
    '/api/security/counts',
    {
      schema: {
        tags: ['security'],
        summary: 'Security events per minute over the last hour, by category and action (tenant users: their routes)',
        security: bearer,
        response: withErrors({ 200: { type: 'object', properties: { minutes: { type: 'array', items: anyObject } } } }, 401, 403),
      },
      onRequest: context.auth.require('viewer'),
    },
    async (request) => ({ minutes: await context.security.minutes(principalOf(request).tenant) }),
  );

  app.get(
    '/api/security/rules',
    {
      schema: {
        tags: ['security'],
        summary: "The security filter's rule catalogue: ids (CRS numbering), categories, severities and anomaly scores",
        security: bearer,
        response: withErrors({ 200: { type: 'object', properties: { categories: { type: 'array', items: { type: 'string' } }, rules: { type: 'array', items: anyObject } } } }, 401, 403),
      },
      onRequest: context.auth.require('viewer'),
    },
    async () => ({
      categories: CATEGORIES,
      rules: SECURITY_RULES.map((rule) => ({ id: rule.id, category: rule.category, severity: rule.severity, score: SEVERITY_SCORES[rule.severity], title: rule.title })),
    }),
  );
}

const ipListsSchema = {
  type: 'object',
  properties: {
    allow: { type: 'array', items: { type: 'string' } },
    deny: { type: 'array', items: { type: 'string' } },
    configured: { type: 'object', properties: { allow: { type: 'array', items: { type: 'string' } }, deny: { type: 'array', items: { type: 'string' } } } },
    version: { type: 'integer' },
    updatedAt: { type: ['string', 'null'] },
    updatedBy: { type: ['string', 'null'] },
  },
} as const;

export function registerIpListRoutes(app: FastifyInstance, context: ApiContext): void {
  const read = async () => {
    const record = await context.state.get<LiveIpListsRecord>(IP_LISTS_NAMESPACE, IP_LISTS_ID);
    const { security } = context.config();
    return {
      allow: record?.value.allow ?? [],
      deny: record?.value.deny ?? [],
      configured: { allow: security.ipAllow, deny: security.ipDeny },
      version: record?.version ?? 0,
      updatedAt: record?.value.updatedAt ?? null,
      updatedBy: record?.value.updatedBy ?? null,
    };
  };
  const platformOnly = (tenant: string | null): void => {
    if (tenant !== null) throw new VelofluxError('VF_ERR_FORBIDDEN', 'the address lists are instance-wide: for users without a tenant');
  };

  app.get(
    '/api/security/ip-lists',
    {
      schema: { tags: ['security'], summary: 'The live CIDR allow and deny lists (and the ones from the config file)', security: bearer, response: withErrors({ 200: ipListsSchema }, 401, 403) },
      onRequest: context.auth.require('viewer'),
    },
    async (request) => {
      platformOnly(principalOf(request).tenant);
      return read();
    },
  );

  app.put<{ Body: unknown }>(
    '/api/security/ip-lists',
    {
      schema: {
        tags: ['security'],
        summary: 'Replace the live CIDR allow and deny lists; every worker of every instance applies them to its next request, no reload',
        security: bearer,
        body: { type: 'object' },
        response: withErrors({ 200: ipListsSchema }, 400, 401, 403, 503),
      },
      onRequest: context.auth.require('operator'),
    },
    async (request) => {
      const principal = principalOf(request);
      platformOnly(principal.tenant);
      const parsed = parseIpLists(request.body);
      if ('problems' in parsed) throw new VelofluxError('VF_ERR_VALIDATION', parsed.problems.map((p) => `${p.field}: ${p.problem}`).join('; '));
      const value: LiveIpListsRecord = { ...parsed, updatedAt: new Date().toISOString(), updatedBy: principal.email };
      await context.state.put(IP_LISTS_NAMESPACE, IP_LISTS_ID, value);
      return read();
    },
  );
}

/** An ISO time or ms since the epoch; anything else is a 400 naming the parameter. */
function timeOf(text: string, field: string): number {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new VelofluxError('VF_ERR_BAD_REQUEST', `${field}: not an ISO time or a number of ms since the epoch: "${text}"`);
  return ms;
}
