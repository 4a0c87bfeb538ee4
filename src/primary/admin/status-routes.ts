/** GET /admin/health, GET /admin/nodes, GET /admin/metrics, GET /admin/audit, POST /admin/workers/restart. */
import type { FastifyInstance } from 'fastify';
import { LOG_LEVELS, type LogLevel } from '../../shared/ipc.js';
import { backendTotals, sumWebSockets } from '../metrics/aggregate.js';
import { sendError } from '../../shared/http/json-api.js';
import { instanceHealth } from '../api-feed/feed-builder.js';
import { actorOf, type AdminContext } from './server.js';

export function registerStatusRoutes(app: FastifyInstance, { controller, supervisor, audit, healthChecker, outliers, shutdownDeadlineMs, rootLog, cluster }: AdminContext): void {
  // Public (no token): up/down only, for probes.
  app.get('/admin/health', async (_request, reply) => {
    // Redis being away does not stop proxying (last known config, local rate-limit shares): the
    // instance stays up for probes and says it is degraded. Same answer as the main API's /health.
    const health = instanceHealth(supervisor.workers(), supervisor.expectedWorkers, controller.store.status(), supervisor.committed.version);
    return reply.code(health.status === 'down' ? 503 : 200).send(health);
  });

  /** The VeloFlux instances sharing this one's state (embedded: this one), and the leader. */
  app.get('/admin/nodes', async (_request, reply) => {
    const membership = cluster();
    if (membership === undefined) return sendError(reply, 'VF_ERR_STATE_UNAVAILABLE', 'the instance is still starting');
    const state = controller.store.status();
    // Redis away rejects with VF_ERR_STATE_UNAVAILABLE (503); anything else is a 500 of ours.
    const [nodes, leader] = await Promise.all([membership.nodes(), membership.leader()]);
    const etags = new Set(nodes.flatMap((n) => (n.config === undefined ? [] : [n.config.etag])));
    return { nodeId: membership.nodeId, leader: leader ?? null, isLeader: membership.isLeader, state, inSync: etags.size <= 1, nodes };
  });

  app.get('/admin/metrics', async () => {
    const workers = supervisor.workers();
    const health = new Map(healthChecker.details().map((h) => [h.id, h]));
    const ejections = new Map(outliers.details().map((e) => [e.id, e]));
    const totals = backendTotals(workers.map((w) => w.stats));
    return {
      configVersion: supervisor.committed.version,
      workers: workers.map((w) => ({
        id: w.id,
        pid: w.pid,
        ready: w.ready,
        uptimeSeconds: Math.round(w.uptimeMs / 1000),
        configVersion: w.stats?.configVersion ?? null,
        requests: w.stats?.requests ?? 0,
        activeConnections: w.stats?.activeConnections ?? 0,
        memory: { rssBytes: w.stats?.rssBytes ?? 0, heapUsedBytes: w.stats?.heapUsedBytes ?? 0 },
        eventLoopLagMs: w.stats?.eventLoopLagMs ?? null,
      })),
      websockets: sumWebSockets(workers.map((w) => w.stats?.websockets)),
      pools: controller.config.pools.map((pool) => ({
        name: pool.name,
        algorithm: pool.algorithm,
        backends: pool.backends.map((b) => {
          const live = totals.get(b.id);
          return {
            id: b.id,
            url: b.url,
            weight: b.weight,
            drain: b.drain,
            // null when the pool has no active health check.
            healthy: health.get(b.id)?.healthy ?? null,
            lastProbe: health.get(b.id)?.lastProbe ?? null,
            ejected: ejections.get(b.id)?.ejected ?? false,
            ejectedUntil: ejections.get(b.id)?.until ?? null,
            inFlight: live?.inFlight ?? 0,
            requests: live?.requests ?? 0,
            ewmaLatencyMs: Math.round((live?.ewmaLatencyMs ?? 0) * 100) / 100,
            consecutiveFailures: live?.consecutiveFailures ?? 0,
          };
        }),
      })),
    };
  });

  // Query strings are text and the API does not coerce types (bodies must be exact), hence the pattern.
  app.get<{ Querystring: { limit?: string } }>(
    '/admin/audit',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'string', pattern: '^([1-9][0-9]{0,2}|1000)$' } } } } },
    async (request) => ({ entries: audit.list(request.query.limit === undefined ? 100 : Number(request.query.limit)) }),
  );

  // Application log level of the primary and every worker (the access log has its own setting).
  app.put<{ Body: { level: LogLevel } }>(
    '/admin/log-level',
    { schema: { body: { type: 'object', additionalProperties: false, required: ['level'], properties: { level: { type: 'string', enum: [...LOG_LEVELS] } } } } },
    async (request) => {
      const previous = rootLog.level;
      rootLog.level = request.body.level;
      supervisor.broadcastLogLevel(request.body.level);
      audit.record({ actor: actorOf(request), action: 'log.level', target: request.body.level, outcome: 'applied', detail: { previous } });
      return { level: request.body.level, previous };
    },
  );

  app.post('/admin/workers/restart', async (request) => {
    const actor = actorOf(request);
    try {
      const result = await supervisor.rollingRestart(shutdownDeadlineMs);
      audit.record({ actor, action: 'workers.restart', outcome: 'applied', detail: result });
      return result;
    } catch (err) {
      audit.record({ actor, action: 'workers.restart', outcome: 'failed', detail: (err as Error).message });
      throw err;
    }
  });
}
