/**
 * GET/POST /api/admin/users, PATCH/DELETE /api/admin/users/{id}, GET /api/admin/stats,
 * GET /api/admin/logs (admins). An admin bound to a tenant manages that tenant's users only (any
 * other id is 404, as a missing one); logs and instance-wide stats are for platform admins (no
 * tenant). Account changes and their rules (the last platform admin stays) are accounts.ts.
 */
import type { FastifyInstance } from 'fastify';
import { ROLES } from '../../../shared/auth/jwt.js';
import { publicView } from '../../../shared/auth/users.js';
import { VelofluxError } from '../../../shared/errors.js';
import type { ApiContext } from '../api-context.js';
import { principalOf, type Principal } from '../authenticate.js';
import { bearer, idPattern, userSchema, withErrors } from '../schemas.js';
import { seesTenant } from '../tenants.js';

const userParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } } as const;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

function requirePlatform(principal: Principal): void {
  if (principal.tenant !== null) throw new VelofluxError('VF_ERR_FORBIDDEN', 'instance-wide data is for admins without a tenant');
}

export function registerAdminRoutes(app: FastifyInstance, context: ApiContext): void {
  const { auth, users } = context;
  const admin = auth.require('admin');

  app.get(
    '/api/admin/users',
    { schema: { tags: ['admin'], summary: 'Users (of your tenant, for a tenant admin)', security: bearer, response: withErrors({ 200: { type: 'object', properties: { users: { type: 'array', items: userSchema } } } }, 401, 403) }, onRequest: admin },
    async (request) => {
      const principal = principalOf(request);
      const list = principal.tenant === null ? await users.list() : await users.list({ tenant: principal.tenant });
      return { users: list.map(publicView) };
    },
  );

  app.post<{ Body: { email: string; password: string; role: (typeof ROLES)[number]; tenant?: string | null; name?: string } }>(
    '/api/admin/users',
    {
      schema: {
        tags: ['admin'],
        summary: 'Create a user with a role (and a tenant)',
        security: bearer,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['email', 'password', 'role'],
          properties: {
            email: { type: 'string', minLength: 3, maxLength: 254 },
            password: { type: 'string', minLength: 1, maxLength: 1024 },
            role: { type: 'string', enum: [...ROLES] },
            tenant: { anyOf: [{ type: 'string', pattern: idPattern }, { type: 'null' }] },
            name: { type: 'string', maxLength: 200 },
          },
        },
        response: withErrors({ 201: userSchema }, 400, 401, 403, 409),
      },
      onRequest: admin,
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { tenant } = request.body;
      // Another tenant is as unknown to a tenant admin as a missing one: the same answer, so its
      // existence is not confirmed (tenants.ts).
      if (tenant !== undefined && tenant !== null && (!seesTenant(principal, tenant) || (await context.tenants.get(tenant)) === undefined)) {
        throw new VelofluxError('VF_ERR_VALIDATION', `no tenant "${tenant}"`);
      }
      const user = await context.registration.register(request.body, { actor: actorOf(principal) });
      return reply.code(201).send(publicView(user));
    },
  );

  app.patch<{ Params: { id: string }; Body: { role?: (typeof ROLES)[number]; disabled?: boolean } }>(
    '/api/admin/users/:id',
    {
      schema: {
        tags: ['admin'],
        summary: "Change a user's role or disable them (a disabled user's sessions end at once)",
        security: bearer,
        params: userParams,
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { role: { type: 'string', enum: [...ROLES] }, disabled: { type: 'boolean' } } },
        response: withErrors({ 200: userSchema }, 400, 401, 403, 404, 409),
      },
      onRequest: admin,
    },
    async (request) => publicView(await context.accounts.change(actorOf(principalOf(request)), request.params.id, request.body)),
  );

  app.delete<{ Params: { id: string } }>(
    '/api/admin/users/:id',
    { schema: { tags: ['admin'], summary: 'Delete a user; their sessions end at once', security: bearer, params: userParams, response: withErrors({ 204: { type: 'null' } }, 401, 403, 404, 409) }, onRequest: admin },
    async (request, reply) => {
      await context.accounts.remove(actorOf(principalOf(request)), request.params.id);
      return reply.code(204).send();
    },
  );

  app.get(
    '/api/admin/stats',
    {
      schema: {
        tags: ['admin'],
        summary: 'Counts across the instance: users, tenants, pools, backends, requests, nodes',
        security: bearer,
        response: withErrors({ 200: { type: 'object', additionalProperties: { type: ['number', 'null'] } } }, 401, 403),
      },
      onRequest: admin,
    },
    async (request) => {
      requirePlatform(principalOf(request));
      const config = context.config();
      const feed = context.feed.latest;
      return {
        users: await users.count(),
        tenants: (await context.tenants.list()).length,
        pools: config.pools.length,
        backends: config.pools.reduce((n, p) => n + p.backends.length, 0),
        routes: config.routes.length,
        requests: feed?.metrics.totals.requests ?? null,
        errors5xx: feed?.metrics.totals.errors5xx ?? null,
        activeWebSockets: feed?.metrics.totals.websockets.active ?? null,
        nodes: feed?.status.nodes.length ?? null,
        uptimeSeconds: feed?.status.uptimeSeconds ?? null,
      };
    },
  );

  app.get<{ Querystring: { level?: string; limit?: string; since?: string } }>(
    '/api/admin/logs',
    {
      schema: {
        tags: ['admin'],
        summary: 'Recent structured log lines of the primary and every worker, newest last',
        security: bearer,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { level: { type: 'string', enum: [...LOG_LEVELS] }, limit: { type: 'string', pattern: '^[0-9]{1,4}$' }, since: { type: 'string', format: 'date-time' } },
        },
        response: withErrors({ 200: { type: 'object', properties: { lines: { type: 'array', items: { type: 'object', additionalProperties: true } }, dropped: { type: 'integer' } } } }, 400, 401, 403),
      },
      onRequest: admin,
    },
    async (request) => {
      requirePlatform(principalOf(request));
      const { level, limit, since } = request.query;
      return context.rpc.call('logs.recent', { ...(level !== undefined ? { level } : {}), ...(limit !== undefined ? { limit: Number(limit) } : {}), ...(since !== undefined ? { since } : {}) });
    },
  );
}

function actorOf(principal: Principal): { id: string; role: Principal['role']; tenant: string | null } {
  return { id: principal.userId, role: principal.role, tenant: principal.tenant };
}
