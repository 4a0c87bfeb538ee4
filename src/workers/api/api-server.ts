/**
 * The main API on server.api (:9090), served by every worker on a shared port (DESIGN.md §2):
 * fastify with a JSON schema for every body and response, errors in the VeloFlux shape, the
 * OpenAPI document generated from those schemas at /api/openapi.json, and the WebSocket streams
 * at /api/ws/*. Routes live one area per file under routes/; they read the worker's replicas and
 * the primary's feed, and ask the primary for the rest.
 */
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import { API_STREAMS } from '../../shared/api-feed.js';
import { Accounts } from '../../shared/auth/accounts.js';
import { AccessTokens } from '../../shared/auth/jwt.js';
import { LoginThrottle } from '../../shared/auth/login-throttle.js';
import { ENDED_SESSIONS_NAMESPACE, RefreshTokens } from '../../shared/auth/refresh-tokens.js';
import { Registration } from '../../shared/auth/registration.js';
import { USERS_NAMESPACE, Users } from '../../shared/auth/users.js';
import { createJsonApi, sendError } from '../../shared/http/json-api.js';
import { IPC_PROTOCOL_VERSION } from '../../shared/ipc.js';
import { VELOFLUX_VERSION } from '../../shared/version.js';
import type { ApiContext, ApiDependencies } from './api-context.js';
import { Authenticator } from './authenticate.js';
import { apiTrustProxy } from './forwarded-for.js';
import { HostPolicy } from './host-policy.js';
import { registerAdminRoutes } from './routes/admin-routes.js';
import { registerAiRoutes } from './routes/ai-routes.js';
import { registerAlertRoutes } from './routes/alert-routes.js';
import { registerAuthRoutes } from './routes/auth-routes.js';
import { registerBackendRoutes } from './routes/backend-routes.js';
import { registerBillingRoutes } from './routes/billing-routes.js';
import { registerInvoiceRoutes } from './routes/invoice-routes.js';
import { registerUpgradeRoutes } from './routes/upgrade-routes.js';
import { registerObserveRoutes } from './routes/observe-routes.js';
import { registerRoutingRoutes } from './routes/routing-routes.js';
import { registerIpListRoutes, registerSecurityRoutes } from './routes/security-routes.js';
import { SecurityFeed } from './security-feed.js';
import { registerSystemRoutes } from './routes/system-routes.js';
import { registerTenantRoutes } from './routes/tenant-routes.js';
import { StreamHub } from './streams/stream-hub.js';
import { STREAM_PATH_PREFIX } from './streams/stream-protocol.js';
import { rejectUpgrade } from './streams/upgrade-rejection.js';
import { TENANTS_NAMESPACE, Tenants } from './tenants.js';

export interface ApiServer {
  readonly app: FastifyInstance;
  readonly streams: StreamHub;
  close(): void;
}

/** A change in one of these may end an open stream's access (Authenticator.isLive). */
const ACCESS_NAMESPACES: ReadonlySet<string> = new Set([USERS_NAMESPACE, TENANTS_NAMESPACE, ENDED_SESSIONS_NAMESPACE]);

function servicesFor(deps: ApiDependencies): ApiContext {
  const { api } = deps.config().server;
  const accessTtlSeconds = Math.round(api.accessTokenTtl / 1000);
  const tokens = new AccessTokens({ secret: deps.secrets.jwtSecret, issuer: api.issuer, audience: api.audience, ttlSeconds: accessTtlSeconds });
  const users = new Users(deps.state);
  const tenants = new Tenants(deps.state);
  const refreshTokens = new RefreshTokens(deps.state, { ttlSeconds: Math.round(api.refreshTokenTtl / 1000), accessTtlSeconds });
  const auth = new Authenticator(tokens, { user: (id) => users.get(id), tenant: (id) => tenants.get(id), sessionEnded: (sid) => refreshTokens.isEnded(sid) });
  return {
    ...deps,
    tokens,
    users,
    auth,
    refreshTokens,
    accounts: new Accounts(users, refreshTokens),
    throttle: new LoginThrottle(deps.state),
    registration: new Registration(deps.state, users, { mode: api.registration, tenantExists: async (id) => (await tenants.get(id)) !== undefined }),
    tenants,
    security: new SecurityFeed(deps.state),
  };
}

export async function createApiServer(deps: ApiDependencies): Promise<ApiServer> {
  const context = servicesFor(deps);
  const { server } = context.config();
  const app = createJsonApi({
    name: 'API',
    bodyLimit: server.api.maxBodySize,
    log: context.log,
    // Requests usually arrive through the VeloFlux proxy on :80 of this host: see forwarded-for.ts.
    trustProxy: apiTrustProxy(server),
    timeouts: server.timeouts,
  });
  app.decorateRequest('principal', null);
  // First of all hooks, so a refused Host learns nothing else (not even which routes exist).
  const hosts = new HostPolicy(server.api.allowedHosts);
  if (server.api.allowedHosts !== undefined) {
    app.addHook('onRequest', async (request, reply) => {
      if (!hosts.allows(request.headers.host)) return sendError(reply, 'VF_ERR_HOST_NOT_ALLOWED');
    });
  }
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'VeloFlux API', version: VELOFLUX_VERSION, description: 'The main REST API of VeloFlux (DESIGN.md §2). Errors: {"error": {"code": "VF_ERR_...", "message": "..."}}.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });
  registerSystemRoutes(app, context, IPC_PROTOCOL_VERSION);
  registerObserveRoutes(app, context);
  registerAuthRoutes(app, context);
  registerAdminRoutes(app, context);
  registerTenantRoutes(app, context);
  registerBackendRoutes(app, context);
  registerRoutingRoutes(app, context);
  registerBillingRoutes(app, context);
  registerInvoiceRoutes(app, context);
  registerUpgradeRoutes(app, context);
  registerAlertRoutes(app, context);
  registerAiRoutes(app, context);
  registerSecurityRoutes(app, context);
  registerIpListRoutes(app, context);
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.ready();

  const streams = new StreamHub({
    streams: API_STREAMS.map((stream) => ({ name: stream.name, private: stream.private || !server.api.publicStreams })),
    allowedOrigins: server.api.allowedOrigins,
    pingIntervalMs: server.api.streamPingInterval,
    // The REST authenticator, so a stream is refused for everything a REST call is (ended
    // session, disabled user, deleted tenant), with the tenant from the user record.
    verifyToken: async (token) => {
      const principal = await context.auth.principalOf(token);
      return { tenant: principal.tenant, subject: principal.userId, session: principal.sessionId };
    },
    log: context.log,
  });
  const stopRevalidating = watchAccess(context, streams);
  app.server.on('upgrade', (request, socket, head) => {
    if (!hosts.allows(request.headers.host)) rejectUpgrade(socket, 'VF_ERR_HOST_NOT_ALLOWED');
    else if (request.url?.startsWith(STREAM_PATH_PREFIX)) streams.handleUpgrade(request, socket, head);
    else rejectUpgrade(socket, 'VF_ERR_NOT_FOUND', `no WebSocket endpoint at ${request.url ?? ''}: streams are under ${STREAM_PATH_PREFIX}`);
  });
  context.feed.attach(streams, context.config);
  context.billing.attach(streams);
  context.security.attach(streams);
  return {
    app,
    streams,
    close: () => {
      stopRevalidating();
      context.security.detach();
      streams.close();
    },
  };
}

/**
 * Closes the streams of sessions that end: a change to users, tenants or ended sessions reaches
 * this worker's replica (from the primary, which hears Redis too) and every authenticated stream
 * is checked again. Changes of these are rare (logins write elsewhere); one pass runs at a time
 * and a change during it asks for one more.
 */
function watchAccess(context: ApiContext, streams: StreamHub): () => void {
  let running = false;
  let again = false;
  const run = (): void => {
    running = true;
    again = false;
    streams
      .revalidate((identity) => identity.session !== undefined && context.auth.isLive({ userId: identity.subject, sessionId: identity.session }))
      .catch((err: unknown) => context.log.warn({ err: (err as Error).message }, 'could not re-check the stream sessions'))
      .finally(() => {
        running = false;
        if (again) run();
      });
  };
  return context.state.onChange((change) => {
    if (!ACCESS_NAMESPACES.has(change.namespace)) return;
    if (running) again = true;
    else run();
  });
}
