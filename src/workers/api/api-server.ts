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
import { AccessTokens } from '../../shared/auth/jwt.js';
import { LoginThrottle } from '../../shared/auth/login-throttle.js';
import { RefreshTokens } from '../../shared/auth/refresh-tokens.js';
import { Registration } from '../../shared/auth/registration.js';
import { Users } from '../../shared/auth/users.js';
import { createJsonApi, sendError } from '../../shared/http/json-api.js';
import { IPC_PROTOCOL_VERSION } from '../../shared/ipc.js';
import { VELOFLUX_VERSION } from '../../shared/version.js';
import type { ApiContext, ApiDependencies } from './api-context.js';
import { Authenticator } from './authenticate.js';
import { apiTrustProxy } from './forwarded-for.js';
import { HostPolicy } from './host-policy.js';
import { registerAdminRoutes } from './routes/admin-routes.js';
import { registerAlertRoutes } from './routes/alert-routes.js';
import { registerAuthRoutes } from './routes/auth-routes.js';
import { registerBackendRoutes } from './routes/backend-routes.js';
import { registerObserveRoutes } from './routes/observe-routes.js';
import { registerSystemRoutes } from './routes/system-routes.js';
import { registerTenantRoutes } from './routes/tenant-routes.js';
import { StreamHub } from './streams/stream-hub.js';
import { STREAM_PATH_PREFIX } from './streams/stream-protocol.js';
import { rejectUpgrade } from './streams/upgrade-rejection.js';
import { Tenants } from './tenants.js';

export interface ApiServer {
  readonly app: FastifyInstance;
  readonly streams: StreamHub;
  close(): void;
}

function servicesFor(deps: ApiDependencies): ApiContext {
  const { api } = deps.config().server;
  const tokens = new AccessTokens({ secret: deps.secrets.jwtSecret, issuer: api.issuer, audience: api.audience, ttlSeconds: Math.round(api.accessTokenTtl / 1000) });
  const users = new Users(deps.state);
  const auth = new Authenticator(tokens, (id) => users.get(id));
  return {
    ...deps,
    tokens,
    users,
    auth,
    refreshTokens: new RefreshTokens(deps.state, { ttlSeconds: Math.round(api.refreshTokenTtl / 1000) }),
    throttle: new LoginThrottle(deps.state),
    registration: new Registration(deps.state, users, { mode: api.registration }),
    tenants: new Tenants(deps.state),
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
  registerAlertRoutes(app, context);
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.ready();

  const streams = new StreamHub({
    streams: API_STREAMS.map((stream) => ({ name: stream.name, private: stream.private || !server.api.publicStreams })),
    allowedOrigins: server.api.allowedOrigins,
    pingIntervalMs: server.api.streamPingInterval,
    verifyToken: (token) => {
      const claims = context.tokens.verify(token);
      return { tenant: claims.tenant ?? null, subject: claims.sub };
    },
    log: context.log,
  });
  app.server.on('upgrade', (request, socket, head) => {
    if (!hosts.allows(request.headers.host)) rejectUpgrade(socket, 'VF_ERR_HOST_NOT_ALLOWED');
    else if (request.url?.startsWith(STREAM_PATH_PREFIX)) streams.handleUpgrade(request, socket, head);
    else rejectUpgrade(socket, 'VF_ERR_NOT_FOUND', `no WebSocket endpoint at ${request.url ?? ''}: streams are under ${STREAM_PATH_PREFIX}`);
  });
  context.feed.attach(streams, context.config);
  return { app, streams, close: () => streams.close() };
}
