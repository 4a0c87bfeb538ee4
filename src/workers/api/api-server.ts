/**
 * The main API on server.api (:9090), served by every worker on a shared port (DESIGN.md §2):
 * fastify with a JSON schema for every body and response, errors in the VeloFlux shape, and the
 * OpenAPI document generated from those schemas at /api/openapi.json. Routes live one area per
 * file under routes/; they read the worker's replicas and ask the primary for the rest.
 */
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import { createJsonApi } from '../../shared/http/json-api.js';
import { IPC_PROTOCOL_VERSION } from '../../shared/ipc.js';
import { VELOFLUX_VERSION } from '../../shared/version.js';
import type { ApiContext } from './api-context.js';
import { registerSystemRoutes } from './routes/system-routes.js';

export async function createApiServer(context: ApiContext): Promise<FastifyInstance> {
  const { server } = context.config();
  const app = createJsonApi({
    name: 'API',
    bodyLimit: server.api.maxBodySize,
    log: context.log,
    // Requests usually arrive through the VeloFlux proxy on :80: its X-Forwarded-For is believed
    // only from the peers the operator trusts, as on the data plane.
    trustProxy: server.trustedProxies.length > 0 ? [...server.trustedProxies] : false,
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'VeloFlux API', version: VELOFLUX_VERSION, description: 'The main REST API of VeloFlux (DESIGN.md §2). Errors: {"error": {"code": "VF_ERR_...", "message": "..."}}.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });
  registerSystemRoutes(app, context, IPC_PROTOCOL_VERSION);
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.ready();
  return app;
}
