/**
 * The metrics listener (`server.metrics`, default :8080): `GET /metrics` in the Prometheus text
 * format, aggregated over every worker, and `GET /health` for probes. Read-only and tokenless, as
 * Prometheus scrapes expect; bind it where only the monitoring network reaches it.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { renderMetrics, type MetricsSources } from './render.js';

export function createMetricsServer(sources: MetricsSources): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/metrics', async (_request, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(renderMetrics(sources)));
  app.get('/health', async (_request, reply) => {
    const ready = sources.supervisor.workers().filter((w) => w.ready).length;
    return reply.code(ready > 0 ? 200 : 503).send({ status: ready > 0 ? 'up' : 'down', workers: ready, configVersion: sources.supervisor.committed.version });
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: { code: 'VF_ERR_NOT_FOUND', message: 'try /metrics or /health' } }));
  return app;
}
