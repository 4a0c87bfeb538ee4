/** GET/PUT /admin/config (ETag / If-Match), POST /admin/validate, POST /admin/reload. */
import type { FastifyInstance } from 'fastify';
import type { DynamicInput } from '../config/runtime-overlay.js';
import { actorOf, type AdminContext } from './server.js';

/** The envelope only; the contents are validated by the config schema, with paths. */
const dynamicBody = {
  type: 'object',
  additionalProperties: false,
  required: ['pools', 'routes'],
  properties: {
    pools: { type: 'array', items: { type: 'object' } },
    routes: { type: 'array', items: { type: 'object' } },
    rateLimits: { type: 'array', items: { type: 'object' } },
    backendPolicy: { type: 'object' },
    billing: { type: 'object' },
    security: { type: 'object' },
  },
} as const;

export function registerConfigRoutes(app: FastifyInstance, { controller }: AdminContext): void {
  app.get('/admin/config', async (_request, reply) => reply.header('etag', controller.etag).send(controller.dynamic));

  app.put<{ Body: DynamicInput }>('/admin/config', { schema: { body: dynamicBody } }, async (request, reply) => {
    const result = await controller.replace(request.body, request.headers['if-match'], actorOf(request));
    return reply.header('etag', result.etag).send(result);
  });

  app.post<{ Body: DynamicInput }>('/admin/validate', { schema: { body: dynamicBody } }, async (request, reply) => {
    const result = controller.validate(request.body);
    return reply.code(result.valid ? 200 : 422).send(result);
  });

  app.post('/admin/reload', async (request, reply) => {
    const result = await controller.reload(actorOf(request));
    return reply.header('etag', result.etag).send(result);
  });
}
