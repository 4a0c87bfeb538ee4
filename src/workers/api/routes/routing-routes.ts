/**
 * GET /api/routes and /api/pools: the routing table and the pools as they are in force on this
 * worker (the committed config), for the dashboard's "Routes & pools" page and for operators who
 * want to see what `veloflux.yaml` plus runtime changes came to. Read-only; a tenant's users see
 * only their tenant's routes and pools. Durations are milliseconds; TLS file paths are left out.
 */
import type { FastifyInstance } from 'fastify';
import type { PoolConfig, RateLimitConfig, RouteConfig, VelofluxConfig } from '../../../shared/config/schema.js';
import type { ApiContext } from '../api-context.js';
import { principalOf } from '../authenticate.js';
import { bearer, withErrors } from '../schemas.js';
import { seesTenant, visiblePools } from '../tenants.js';

const anyObject = { type: 'object', additionalProperties: true } as const;

export function registerRoutingRoutes(app: FastifyInstance, context: ApiContext): void {
  app.get(
    '/api/routes',
    {
      schema: { tags: ['routing'], summary: 'The routes in force, in match order: host, path, pool, tenant, rate limit, flags', security: bearer, response: withErrors({ 200: { type: 'object', properties: { configVersion: { type: 'integer' }, routes: { type: 'array', items: anyObject } } } }, 401) },
      onRequest: context.auth.require('viewer'),
    },
    async (request) => {
      const principal = principalOf(request);
      const config = context.config();
      const routes = config.routes.filter((route) => seesTenant(principal, route.tenant)).map((route) => routeView(route, config));
      return { configVersion: context.feed.latest?.configVersion ?? 0, routes };
    },
  );

  app.get(
    '/api/pools',
    {
      schema: { tags: ['routing'], summary: 'The pools in force: algorithm, backends, health check, retries, timeouts, resilience settings', security: bearer, response: withErrors({ 200: { type: 'object', properties: { configVersion: { type: 'integer' }, pools: { type: 'array', items: anyObject } } } }, 401) },
      onRequest: context.auth.require('viewer'),
    },
    async (request) => {
      const config = context.config();
      const visible = visiblePools(config, principalOf(request));
      const pools = config.pools.filter((pool) => visible.has(pool.name)).map((pool) => poolView(pool, config));
      return { configVersion: context.feed.latest?.configVersion ?? 0, pools };
    },
  );
}

function routeView(route: RouteConfig, config: Readonly<VelofluxConfig>) {
  const limit: RateLimitConfig | undefined = route.rateLimit === undefined ? undefined : config.rateLimits.find((policy) => policy.name === route.rateLimit);
  return {
    host: route.host,
    path: route.path,
    pool: route.pool,
    tenant: route.tenant ?? null,
    stripPrefix: route.stripPrefix,
    redirectHttps: route.redirectHttps,
    rateLimit: limit === undefined ? null : { name: limit.name, key: limit.key, rate: limit.rate, perMs: limit.per, burst: limit.burst },
    /** The security filter's mode in force here: the route's own, else the top-level default. */
    security: route.security?.mode ?? config.security.mode,
  };
}

function poolView(pool: PoolConfig, config: Readonly<VelofluxConfig>) {
  const defaults = config.server.timeouts;
  return {
    name: pool.name,
    algorithm: pool.algorithm,
    hashKey: pool.hashKey ?? null,
    backends: pool.backends.map((b) => ({ id: b.id, url: b.url, weight: b.weight, drain: b.drain })),
    retries: pool.retries,
    healthCheck: pool.healthCheck ?? null,
    timeoutsMs: {
      connect: pool.timeouts.connect ?? defaults.connect,
      response: pool.timeouts.response ?? defaults.response,
      request: pool.timeouts.request ?? defaults.request,
    },
    panicMode: pool.panicMode,
    outlierDetection: pool.outlierDetection ?? null,
    maxConnectionsPerBackend: pool.maxConnectionsPerBackend,
    circuitBreaker: pool.circuitBreaker,
    sticky: pool.sticky !== undefined,
  };
}
