/**
 * The AI endpoints (issue 18): status, models, predictions, series, training jobs. The primary
 * trains and keeps the models and series (in the state store); this file decides who sees what.
 * Viewers read, operators train; a tenant's users see only the pools and routes their tenant owns
 * (tenants.ts), and anything else is "not found", as on every other route.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AI_MAX_HORIZON, type AiTrainingJob } from '../../../shared/ai-api.js';
import { VelofluxError } from '../../../shared/errors.js';
import type { VelofluxConfig } from '../../../shared/config/schema.js';
import type { ApiContext } from '../api-context.js';
import { principalOf, type Principal } from '../authenticate.js';
import { bearer, withErrors } from '../schemas.js';
import { seesTenant, visiblePools } from '../tenants.js';

const anyObject = { type: 'object', additionalProperties: true } as const;
const DEFAULT_HORIZON = 15;

/** The series keys (`pool:<name>`, `route:<host><path>`) a principal may see, in config order. */
function visibleKeys(config: Readonly<VelofluxConfig>, principal: Principal): { pools: string[]; routes: string[] } {
  const pools = visiblePools(config, principal);
  return {
    pools: config.pools.filter((p) => pools.has(p.name)).map((p) => p.name),
    routes: [...new Set(config.routes.filter((r) => seesTenant(principal, r.tenant)).map((r) => `${r.host}${r.path}`))],
  };
}

const seriesQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { pool: { type: 'string', maxLength: 200 }, route: { type: 'string', maxLength: 600 } },
} as const;

export function registerAiRoutes(app: FastifyInstance, context: ApiContext): void {
  const { auth } = context;

  /** The key a pool= or route= query names, if the caller may see it: 400 for neither or both, 404 for unknown. */
  const keyOf = (request: FastifyRequest<{ Querystring: { pool?: string; route?: string } }>): string => {
    const { pool, route } = request.query;
    if ((pool === undefined) === (route === undefined)) throw new VelofluxError('VF_ERR_VALIDATION', 'give exactly one of pool= or route=');
    const visible = visibleKeys(context.config(), principalOf(request));
    if (pool !== undefined) {
      if (!visible.pools.includes(pool)) throw new VelofluxError('VF_ERR_POOL_NOT_FOUND', `no pool "${pool}"`);
      return `pool:${pool}`;
    }
    if (!visible.routes.includes(route!)) throw new VelofluxError('VF_ERR_NOT_FOUND', `no route "${route!}" (routes are named host + path, e.g. "*/api/")`);
    return `route:${route!}`;
  };
  /** A job as the caller may see it: trained keys of other tenants left out. */
  const jobView = (request: FastifyRequest, job: AiTrainingJob): AiTrainingJob => {
    const principal = principalOf(request);
    if (principal.tenant === null || job.trained === undefined) return job;
    const { pools, routes } = visibleKeys(context.config(), principal);
    const keys = new Set([...pools.map((p) => `pool:${p}`), ...routes.map((r) => `route:${r}`)]);
    return { ...job, trained: job.trained.filter((t) => keys.has(t.key)) };
  };

  app.get(
    '/api/ai/status',
    {
      schema: { tags: ['ai'], summary: 'Per pool and route: algorithm, forecast model version, trained at, data coverage, holdout errors, current anomalies', security: bearer, response: withErrors({ 200: anyObject }, 401, 403, 503) },
      onRequest: auth.require('viewer'),
    },
    async (request) => {
      const config = context.config();
      const { pools, routes } = visibleKeys(config, principalOf(request));
      const answer = await context.rpc.call('ai.status', { keys: [...pools.map((p) => `pool:${p}`), ...routes.map((r) => `route:${r}`)] });
      const visiblePoolNames = new Set(pools);
      const anomalies = answer.anomalies.filter((a) => visiblePoolNames.has(a.pool));
      const entry = (key: string) => {
        const s = answer.series[key];
        return { model: s?.model ?? null, coverage: s?.coverage ?? null, holdout: s?.model?.holdout ?? null };
      };
      return {
        pools: pools.map((name) => ({ name, algorithm: config.pools.find((p) => p.name === name)?.algorithm, ...entry(`pool:${name}`), anomalies: anomalies.filter((a) => a.pool === name) })),
        routes: routes.map((name) => ({ name, ...entry(`route:${name}`) })),
        anomalies,
        training: { ...answer.training, running: answer.training.running && jobView(request, answer.training.running), last: answer.training.last && jobView(request, answer.training.last) },
      };
    },
  );

  app.get(
    '/api/ai/models',
    { schema: { tags: ['ai'], summary: 'Forecast models: version, parameters, holdout errors against seasonal naive', security: bearer, response: withErrors({ 200: anyObject }, 401, 403, 503) }, onRequest: auth.require('viewer') },
    async (request) => {
      const { pools, routes } = visibleKeys(context.config(), principalOf(request));
      return context.rpc.call('ai.models', { keys: [...pools.map((p) => `pool:${p}`), ...routes.map((r) => `route:${r}`)] });
    },
  );

  app.get<{ Querystring: { pool?: string; route?: string; horizon?: string } }>(
    '/api/ai/predictions',
    {
      schema: {
        tags: ['ai'],
        summary: `Requests/s forecast per minute for a pool or route, 1-${AI_MAX_HORIZON} minutes ahead, with 95% intervals; "insufficient_data" with have/needed when the history is too short`,
        security: bearer,
        querystring: { ...seriesQuery, properties: { ...seriesQuery.properties, horizon: { type: 'string', maxLength: 12 } } },
        response: withErrors({ 200: anyObject }, 400, 401, 403, 404, 503),
      },
      onRequest: auth.require('viewer'),
    },
    async (request) => {
      const key = keyOf(request);
      const raw = request.query.horizon ?? String(DEFAULT_HORIZON);
      const horizon = /^[0-9]{1,4}$/.test(raw) ? Number(raw) : Number.NaN;
      if (!(horizon >= 1 && horizon <= AI_MAX_HORIZON)) throw new VelofluxError('VF_ERR_VALIDATION', `horizon must be a whole number of minutes from 1 to ${AI_MAX_HORIZON}`);
      return context.rpc.call('ai.predictions', { key, horizon });
    },
  );

  app.get<{ Querystring: { pool?: string; route?: string; resolution?: 'minute' | 'hour' } }>(
    '/api/ai/series',
    {
      schema: {
        tags: ['ai'],
        summary: 'The stored traffic series of a pool or route: requests/s, 5xx rate and p99 per minute (last day) or per hour (14 days)',
        security: bearer,
        querystring: { ...seriesQuery, properties: { ...seriesQuery.properties, resolution: { type: 'string', enum: ['minute', 'hour'] } } },
        response: withErrors({ 200: anyObject }, 400, 401, 403, 404, 503),
      },
      onRequest: auth.require('viewer'),
    },
    async (request) => context.rpc.call('ai.series', { key: keyOf(request), resolution: request.query.resolution ?? 'minute' }),
  );

  app.post(
    '/api/ai/train',
    { schema: { tags: ['ai'], summary: 'Start training the forecasts now (202 with the job; 409 while one runs)', security: bearer, response: withErrors({ 202: anyObject }, 401, 403, 409, 503) }, onRequest: auth.require('operator') },
    async (request, reply) => {
      const principal = principalOf(request);
      const job = await context.rpc.call('ai.train', { by: `${principal.userId} ${principal.email}` });
      return reply.code(202).header('location', `/api/ai/jobs/${job.id}`).send(jobView(request, job));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/ai/jobs/:id',
    {
      schema: { tags: ['ai'], summary: 'A training job: state, series trained, event-loop delay while it ran', security: bearer, params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } }, response: withErrors({ 200: anyObject }, 401, 403, 404, 503) },
      onRequest: auth.require('viewer'),
    },
    async (request) => jobView(request, await context.rpc.call('ai.job', { id: request.params.id })),
  );
}
