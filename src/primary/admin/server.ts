/**
 * The admin API (fastify, in the primary; DESIGN.md §2): config read/replace/validate/reload,
 * runtime backend operations, rolling restart, health, metrics and the audit list. Every route
 * but GET /admin/health needs the bearer token. No CORS: browsers never get to call it.
 */
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../../shared/log.js';
import { ConfigError } from '../../shared/config/load.js';
import { ERRORS, VelofluxError, type ErrorCode } from '../../shared/errors.js';
import type { Actor, AuditLog } from '../audit-log.js';
import type { ConfigController } from '../config-controller.js';
import type { HealthChecker } from '../health-checker.js';
import type { OutlierDetector } from '../outlier-detector.js';
import type { Supervisor } from '../supervisor.js';
import { registerBackendRoutes } from './backend-routes.js';
import { registerConfigRoutes } from './config-routes.js';
import { registerStatusRoutes } from './status-routes.js';
import type { ClusterMembership } from '../cluster-membership.js';
import { tokenMatches } from './token.js';

export interface AdminContext {
  readonly controller: ConfigController;
  readonly supervisor: Supervisor;
  readonly audit: AuditLog;
  readonly healthChecker: HealthChecker;
  readonly outliers: OutlierDetector;
  readonly shutdownDeadlineMs: number;
  /** The primary's logger, whose level PUT /admin/log-level sets. */
  readonly rootLog: Logger;
  /** This instance among the ones sharing Redis; undefined until the workers are ready. */
  readonly cluster: () => ClusterMembership | undefined;
}

const PUBLIC_ROUTES = new Set(['/admin/health']);
const BODY_LIMIT = 5 * 1024 * 1024;

export function actorOf(request: FastifyRequest): Actor {
  return { via: 'admin-api', address: request.ip };
}

export function sendError(reply: FastifyReply, code: ErrorCode, message: string = ERRORS[code].message, extra: Record<string, unknown> = {}): FastifyReply {
  return reply.code(ERRORS[code].status).send({ error: { code, message, ...extra } });
}

export function createAdminServer(context: AdminContext, token: string, log: Logger): FastifyInstance {
  const app = Fastify({
    // Requests are not logged one by one: changes are in the audit log.
    loggerInstance: log.child({ component: 'admin' }, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT,
    // Unknown fields must be errors, not silently dropped (fastify's ajv default removes them).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
  });

  // Clients that always send Content-Type: application/json (curl -H habits, many SDKs) send no
  // body with POST /admin/reload, drain, DELETE...: an empty body is "no body", not broken JSON.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString();
    if (text === '') return done(null, undefined);
    parseJson(request, text, done);
  });

  app.addHook('onRequest', async (request, reply) => {
    if (PUBLIC_ROUTES.has(request.routeOptions.url ?? '')) return;
    const header = request.headers.authorization;
    if (header === undefined || !/^Bearer\s+\S/i.test(header)) {
      void reply.header('www-authenticate', 'Bearer realm="veloflux-admin"');
      return sendError(reply, 'VF_ERR_AUTH_REQUIRED');
    }
    if (!tokenMatches(token, header.replace(/^Bearer\s+/i, '').trim())) {
      void reply.header('www-authenticate', 'Bearer realm="veloflux-admin", error="invalid_token"');
      return sendError(reply, 'VF_ERR_AUTH_INVALID');
    }
  });

  app.setErrorHandler((err: FastifyError, _request, reply) => {
    if (err instanceof VelofluxError) return sendError(reply, err.code, err.message);
    if (err instanceof ConfigError) {
      return sendError(reply, 'VF_ERR_CONFIG_INVALID', `${err.problems.length} problem(s) in the configuration`, {
        problems: err.message.split('\n').slice(1).map((line) => line.trim()),
      });
    }
    if (err.validation !== undefined) return sendError(reply, 'VF_ERR_VALIDATION', err.message);
    if (err instanceof SyntaxError || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
      return sendError(reply, 'VF_ERR_INVALID_JSON', `the request body is not valid JSON: ${err.message}`);
    }
    if (err.statusCode === 413) return sendError(reply, 'VF_ERR_BODY_TOO_LARGE', `the request body is larger than ${BODY_LIMIT} bytes`);
    if (err.statusCode === 415) return sendError(reply, 'VF_ERR_VALIDATION', 'Content-Type must be application/json');
    if (err.statusCode !== undefined && err.statusCode < 500) return sendError(reply, 'VF_ERR_VALIDATION', err.message);
    log.error({ err }, 'admin API error');
    return sendError(reply, 'VF_ERR_INTERNAL', err.message);
  });

  app.setNotFoundHandler((request, reply) => sendError(reply, 'VF_ERR_NOT_FOUND', `no admin route ${request.method} ${request.url}`));

  registerStatusRoutes(app, context);
  registerConfigRoutes(app, context);
  registerBackendRoutes(app, context);
  return app;
}
