/**
 * GET /health, /api/status, /api/metrics, /api/metrics/realtime: the primary's once-a-second feed
 * as JSON (the same counters /metrics serves, aggregated over every worker). Readable without a
 * token unless `server.api.publicStreams` is false. Each reader sees what the streams show it
 * (feed-views.ts): anonymous readers instance-wide aggregates only (no route, pool or backend
 * names), tenant users their routes, pools and backends only, platform users everything.
 */
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { realtimePoints, type ApiFeed, type ApiMetrics } from '../../../shared/api-feed.js';
import { VelofluxError } from '../../../shared/errors.js';
import type { ApiContext } from '../api-context.js';
import { bearerTokenOf } from '../authenticate.js';
import { bearer, withErrors } from '../schemas.js';
import { ANONYMOUS, type StreamAudience } from '../streams/stream-channel.js';
import { metricsView, statusView } from '../feed-views.js';

const anyObject = { type: 'object', additionalProperties: true } as const;

export function registerObserveRoutes(app: FastifyInstance, context: ApiContext): void {
  const { api } = context.config().server;
  /** Public: anyone, and a token (if sent) still scopes the answer. Otherwise: viewers and up. */
  const readAccess: onRequestAsyncHookHandler = api.publicStreams
    ? async (request) => {
        const token = bearerTokenOf(request);
        if (token !== undefined) request.principal = await context.auth.principalOf(token);
      }
    : context.auth.require('viewer');
  const security = api.publicStreams ? [] : bearer;

  const feedOf = (): ApiFeed => {
    const feed = context.feed.latest;
    if (feed === undefined) throw new VelofluxError('VF_ERR_PRIMARY_UNAVAILABLE', 'the instance is starting: no data from the primary yet');
    return feed;
  };

  app.get(
    '/health',
    { schema: { tags: ['system'], summary: 'Instance health: workers, state store, config version (503 when down)', response: { 200: anyObject, 503: anyObject } } },
    async (_request, reply) => {
      const feed = context.feed.latest;
      if (feed === undefined) return reply.code(503).send({ status: 'starting' });
      return reply.code(feed.health.status === 'down' ? 503 : 200).send({ ...feed.health, version: feed.status.version });
    },
  );

  app.get(
    '/api/status',
    { schema: { tags: ['system'], summary: 'Cluster nodes, uptime, config version, pools with healthy counts', security, response: withErrors({ 200: anyObject }, 401, 503) }, onRequest: readAccess },
    async (request) => statusView(feedOf().status, context.config())(audienceOf(request)),
  );

  app.get(
    '/api/metrics',
    { schema: { tags: ['metrics'], summary: 'Totals and per route, pool and backend: requests, errors, latency percentiles, bytes, WebSockets', security, response: withErrors({ 200: anyObject }, 401, 503) }, onRequest: readAccess },
    async (request) => {
      const feed = feedOf();
      return { ...(metricsView(feed.metrics, feed.configVersion, context.config())(audienceOf(request)) as object), ts: feed.ts };
    },
  );

  app.get(
    '/api/metrics/realtime',
    {
      schema: {
        tags: ['metrics'],
        summary: 'The last 60 s at 1 s resolution: requests/s, errors/s, p50/p99, bytes/s, connections, WebSockets',
        security,
        response: withErrors({ 200: { type: 'object', properties: { intervalMs: { type: 'integer' }, points: { type: 'array', items: anyObject } } } }, 401, 403, 503),
      },
      onRequest: readAccess,
    },
    async (request) => {
      if (request.principal !== null && request.principal.tenant !== null && !api.publicStreams) throw new VelofluxError('VF_ERR_FORBIDDEN', 'the realtime series is instance-wide');
      const { realtime } = feedOf();
      return { intervalMs: realtime.intervalMs, points: realtimePoints(realtime) };
    },
  );
}

/** Who reads, as the feed views name audiences: anonymous, a tenant, or the whole instance (null). */
function audienceOf(request: FastifyRequest): StreamAudience {
  const principal = request.principal;
  return principal === null ? ANONYMOUS : principal.tenant;
}
