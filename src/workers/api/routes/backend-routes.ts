/**
 * CRUD /api/backends[/{id}] over the live config. A change is a call to the primary, which takes
 * the admin API's path (validate, apply on every worker or none, persist, audit) and answers only
 * once applied: by then this worker runs the new config too, so the answer shows it. GET adds the
 * live state from the primary's feed (health, ejection, in-flight, latency).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConfigError, VelofluxError } from '../../../shared/errors.js';
import { formatProblem } from '../../../shared/config/problems.js';
import type { VelofluxConfig } from '../../../shared/config/schema.js';
import { sendError } from '../../../shared/http/json-api.js';
import type { AddressCheckRequest } from '../../../shared/rpc.js';
import type { ApiContext } from '../api-context.js';
import { principalOf } from '../authenticate.js';
import { bearer, idPattern, withErrors } from '../schemas.js';
import { backendIdToCreate } from '../backend-ids.js';
import { poolTenant, visiblePools } from '../tenants.js';

const backendSchema = {
  type: 'object',
  required: ['id', 'pool', 'url', 'weight', 'drain'],
  properties: {
    id: { type: 'string' },
    pool: { type: 'string' },
    url: { type: 'string' },
    weight: { type: 'integer' },
    drain: { type: 'boolean' },
    healthy: { type: ['boolean', 'null'] },
    ejected: { type: 'boolean' },
    available: { type: 'boolean' },
    inFlight: { type: 'integer' },
    ewmaLatencyMs: { type: 'number' },
    requests: { type: 'integer' },
    lastCheck: {
      type: ['object', 'null'],
      properties: { at: { type: 'string' }, ok: { type: 'boolean' }, status: { type: 'integer' }, error: { type: 'string' }, durationMs: { type: 'number' } },
    },
    ejections: { type: 'integer' },
  },
} as const;

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 200 } } } as const;

/**
 * The primary refuses a change that would make the config invalid with a ConfigError, which the
 * RPC carries with its problems. List them as the admin API does; the message names the change,
 * not the server's config file (its path is the error's source, kept from API users).
 */
function answerInvalidChange(reply: FastifyReply, err: unknown): FastifyReply {
  if (!(err instanceof ConfigError)) throw err;
  return sendError(reply, err.code, `the change would make the configuration invalid: ${err.problems.length} problem(s)`, { problems: err.problems.map(formatProblem) });
}

/**
 * What the primary needs to hold a new backend to the backend address policy (issue 14): who
 * asks, and the override, which only a platform admin may give (tenant users and operators: 403).
 */
function addressCheckFor(request: FastifyRequest, allowUnsafeAddress: boolean): AddressCheckRequest {
  const { tenant, role } = principalOf(request);
  if (allowUnsafeAddress && (tenant !== null || role !== 'admin')) throw new VelofluxError('VF_ERR_FORBIDDEN', 'only a platform admin may set allowUnsafeAddress');
  return { requesterTenant: tenant, allowUnsafeAddress };
}

interface BackendView {
  id: string;
  pool: string;
  url: string;
  weight: number;
  drain: boolean;
  healthy?: boolean | null;
  ejected?: boolean;
  available?: boolean;
  inFlight?: number;
  ewmaLatencyMs?: number;
  requests?: number;
}

export function registerBackendRoutes(app: FastifyInstance, context: ApiContext): void {
  const { auth } = context;

  /** The backends the caller may see, from the config in force, with the feed's live state. */
  const visible = (request: FastifyRequest): BackendView[] => {
    const config = context.config();
    const pools = visiblePools(config, request.principal);
    const live = new Map((context.feed.latest?.backends ?? []).map((b) => [b.id, b]));
    return config.pools
      .filter((p) => pools.has(p.name))
      .flatMap((p) =>
        p.backends.map((b) => {
          const state = live.get(b.id);
          const view: BackendView = { id: b.id, pool: p.name, url: b.url, weight: b.weight, drain: b.drain };
          return state === undefined ? view : { ...view, healthy: state.healthy, ejected: state.ejected, available: state.available, inFlight: state.inFlight, ewmaLatencyMs: state.ewmaLatencyMs, requests: state.requests };
        }),
      );
  };
  const findVisible = (request: FastifyRequest, id: string): BackendView => {
    const backend = visible(request).find((b) => b.id === id);
    if (backend === undefined) throw new VelofluxError('VF_ERR_BACKEND_NOT_FOUND', `no backend with id "${id}"`);
    return backend;
  };
  const actor = (request: FastifyRequest) => ({ user: `${principalOf(request).userId} ${principalOf(request).email}`, address: request.ip });

  app.get(
    '/api/backends',
    { schema: { tags: ['backends'], summary: 'Backends with their live state', security: bearer, response: withErrors({ 200: { type: 'object', properties: { backends: { type: 'array', items: backendSchema } } } }, 401) }, onRequest: auth.require('viewer') },
    async (request) => ({ backends: visible(request) }),
  );

  app.get<{ Params: { id: string } }>(
    '/api/backends/:id',
    { schema: { tags: ['backends'], summary: 'One backend with its live state', security: bearer, params: idParams, response: withErrors({ 200: backendSchema }, 401, 404) }, onRequest: auth.require('viewer') },
    async (request) => findVisible(request, request.params.id),
  );

  app.post<{ Body: { id: string; pool: string; url: string; weight?: number; drain?: boolean; allowUnsafeAddress?: boolean } }>(
    '/api/backends',
    {
      schema: {
        tags: ['backends'],
        summary: 'Add a backend to a pool; answers once every worker routes to it',
        security: bearer,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['id', 'pool', 'url'],
          properties: {
            id: { type: 'string', pattern: idPattern },
            pool: { type: 'string', minLength: 1, maxLength: 200 },
            url: { type: 'string', minLength: 1, maxLength: 2000 },
            weight: { type: 'integer', minimum: 0, maximum: 1000 },
            drain: { type: 'boolean' },
            allowUnsafeAddress: { type: 'boolean', description: 'Platform admins only: skip the backend address policy for this backend (audited)' },
          },
        },
        response: withErrors({ 201: backendSchema }, 400, 401, 403, 404, 409, 422),
      },
      onRequest: auth.require('operator'),
    },
    async (request, reply) => {
      const { pool, allowUnsafeAddress, ...requested } = request.body;
      if (!visiblePools(context.config(), request.principal).has(pool)) throw new VelofluxError('VF_ERR_POOL_NOT_FOUND', `no pool named "${pool}"`);
      // Ids are per tenant (backend-ids.ts), so "already exists" never confirms another tenant's backend.
      const backend = { ...requested, id: backendIdToCreate(requested.id, principalOf(request).tenant, poolTenant(context.config(), pool)) };
      try {
        await context.rpc.call('backends.add', { pool, backend, actor: actor(request), addressCheck: addressCheckFor(request, allowUnsafeAddress === true) });
      } catch (err) {
        return answerInvalidChange(reply, err);
      }
      return reply.code(201).send(findIn(context.config(), backend.id, request));
    },
  );

  app.put<{ Params: { id: string }; Body: { weight?: number; drain?: boolean } }>(
    '/api/backends/:id',
    {
      schema: {
        tags: ['backends'],
        summary: 'Change weight and/or drain; answers once every worker applied it',
        security: bearer,
        params: idParams,
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { weight: { type: 'integer', minimum: 0, maximum: 1000 }, drain: { type: 'boolean' } } },
        response: withErrors({ 200: backendSchema }, 400, 401, 403, 404, 422),
      },
      onRequest: auth.require('operator'),
    },
    async (request, reply) => {
      findVisible(request, request.params.id);
      try {
        await context.rpc.call('backends.update', { id: request.params.id, ...request.body, actor: actor(request) });
      } catch (err) {
        return answerInvalidChange(reply, err);
      }
      return findIn(context.config(), request.params.id, request);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/backends/:id',
    { schema: { tags: ['backends'], summary: 'Remove a backend; answers once no worker routes to it', security: bearer, params: idParams, response: withErrors({ 204: { type: 'null' } }, 401, 403, 404, 422) }, onRequest: auth.require('operator') },
    async (request, reply) => {
      findVisible(request, request.params.id);
      try {
        await context.rpc.call('backends.remove', { id: request.params.id, actor: actor(request) });
      } catch (err) {
        return answerInvalidChange(reply, err);
      }
      return reply.code(204).send();
    },
  );

  /** The backend as the config in force has it (after a change, before the feed catches up). */
  const findIn = (config: Readonly<VelofluxConfig>, id: string, request: FastifyRequest): BackendView => {
    for (const pool of config.pools) {
      const b = pool.backends.find((x) => x.id === id);
      if (b !== undefined) return { id: b.id, pool: pool.name, url: b.url, weight: b.weight, drain: b.drain };
    }
    return findVisible(request, id);
  };
}
