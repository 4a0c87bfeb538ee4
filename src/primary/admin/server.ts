/**
 * The admin API (fastify, in the primary; DESIGN.md §2): config read/replace/validate/reload,
 * runtime backend operations, rolling restart, health, metrics and the audit list. Every route
 * but GET /admin/health needs the bearer token. No CORS: browsers never get to call it.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from '../../shared/log.js';
import { createJsonApi, sendError } from '../../shared/http/json-api.js';
import type { Actor, AuditLog } from '../audit-log.js';
import type { ConfigController } from '../config/config-controller.js';
import type { HealthChecker } from '../health-checker.js';
import type { OutlierDetector } from '../outlier-detector.js';
import type { Supervisor } from '../supervisor.js';
import { registerBackendRoutes } from './backend-routes.js';
import { registerConfigRoutes } from './config-routes.js';
import { registerStatusRoutes } from './status-routes.js';
import { registerSecurityRoutes } from './security-routes.js';
import type { ClusterMembership } from '../state/cluster-membership.js';
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

export function createAdminServer(context: AdminContext, token: string, log: Logger): FastifyInstance {
  // The server block is static (a restart applies it), so its timeouts are read once here.
  const app = createJsonApi({ name: 'admin', bodyLimit: BODY_LIMIT, log, timeouts: context.controller.config.server.timeouts });

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

  registerStatusRoutes(app, context);
  registerConfigRoutes(app, context);
  registerBackendRoutes(app, context);
  registerSecurityRoutes(app, context);
  return app;
}
