/**
 * Runtime backend operations without editing the whole config: drain/undrain, weight, add,
 * remove. Each goes through the same validate / apply-everywhere / persist path as a PUT.
 */
import type { FastifyInstance } from 'fastify';
import type { BackendInput } from '../config/runtime-overlay.js';
import { actorOf, type AdminContext } from './server.js';

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1 } } } as const;

export function registerBackendRoutes(app: FastifyInstance, { controller }: AdminContext): void {
  app.post<{ Params: { id: string } }>('/admin/backends/:id/drain', { schema: { params: idParams } }, async (request) =>
    controller.operate({ kind: 'drain', backendId: request.params.id, drain: true }, actorOf(request)),
  );

  app.post<{ Params: { id: string } }>('/admin/backends/:id/undrain', { schema: { params: idParams } }, async (request) =>
    controller.operate({ kind: 'drain', backendId: request.params.id, drain: false }, actorOf(request)),
  );

  app.put<{ Params: { id: string }; Body: { weight: number } }>(
    '/admin/backends/:id/weight',
    {
      schema: {
        params: idParams,
        body: { type: 'object', additionalProperties: false, required: ['weight'], properties: { weight: { type: 'integer', minimum: 0, maximum: 1000 } } },
      },
    },
    async (request) => controller.operate({ kind: 'weight', backendId: request.params.id, weight: request.body.weight }, actorOf(request)),
  );

  app.post<{ Params: { pool: string }; Body: BackendInput }>(
    '/admin/pools/:pool/backends',
    {
      schema: {
        params: { type: 'object', required: ['pool'], properties: { pool: { type: 'string', minLength: 1 } } },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['id', 'url'],
          properties: { id: { type: 'string' }, url: { type: 'string' }, weight: { type: 'integer' }, drain: { type: 'boolean' } },
        },
      },
    },
    async (request, reply) => reply.code(201).send(await controller.operate({ kind: 'add', pool: request.params.pool, backend: request.body }, actorOf(request))),
  );

  app.delete<{ Params: { id: string } }>('/admin/backends/:id', { schema: { params: idParams } }, async (request) =>
    controller.operate({ kind: 'remove', backendId: request.params.id }, actorOf(request)),
  );
}
