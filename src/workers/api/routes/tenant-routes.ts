/**
 * CRUD /api/tenants[/{id}] (admins). Platform admins (no tenant) manage every tenant; an admin
 * bound to a tenant reads only its own, and any other id is 404 to them. A suspended tenant's
 * users may only read (authenticate.ts); deleting a tenant deletes its users and ends their
 * sessions, so none can log in again or join a later tenant with the same id. A tenant with open
 * (unpaid) invoices cannot be deleted (409 VF_ERR_INVOICES_UNPAID).
 */
import type { FastifyInstance } from 'fastify';
import { VelofluxError } from '../../../shared/errors.js';
import { InvoiceLedger } from '../../../shared/billing/invoice-ledger.js';
import type { ApiContext } from '../api-context.js';
import { principalOf } from '../authenticate.js';
import { bearer, idPattern, withErrors } from '../schemas.js';
import { notFound, seesTenant, type TenantInput } from '../tenants.js';

const fields = {
  name: { type: 'string', minLength: 1, maxLength: 200 },
  plan: { type: 'string', pattern: idPattern },
  limits: {
    type: 'object',
    additionalProperties: false,
    properties: { requestsPerSecond: { type: 'integer', minimum: 1 }, monthlyRequests: { type: 'integer', minimum: 1 } },
  },
  contact: { type: 'object', additionalProperties: false, properties: { name: { type: 'string', maxLength: 200 }, email: { type: 'string', maxLength: 254 } } },
  status: { type: 'string', enum: ['active', 'suspended'] },
} as const;

const tenantSchema = {
  type: 'object',
  required: ['id', 'name', 'plan', 'limits', 'contact', 'status', 'createdAt', 'updatedAt'],
  properties: { id: { type: 'string' }, ...fields, createdAt: { type: 'string' }, updatedAt: { type: 'string' } },
} as const;

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } } as const;

export function registerTenantRoutes(app: FastifyInstance, context: ApiContext): void {
  const { tenants, auth } = context;
  const admin = auth.require('admin');
  const platformOnly = (tenant: string | null) => {
    if (tenant !== null) throw new VelofluxError('VF_ERR_FORBIDDEN', 'only admins without a tenant create, change or delete tenants');
  };

  app.get(
    '/api/tenants',
    { schema: { tags: ['tenants'], summary: 'Tenants you may see', security: bearer, response: withErrors({ 200: { type: 'object', properties: { tenants: { type: 'array', items: tenantSchema } } } }, 401, 403) }, onRequest: admin },
    async (request) => {
      const principal = principalOf(request);
      return { tenants: (await tenants.list()).filter((t) => seesTenant(principal, t.id)) };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/tenants/:id',
    { schema: { tags: ['tenants'], summary: 'One tenant', security: bearer, params: idParams, response: withErrors({ 200: tenantSchema }, 401, 403, 404) }, onRequest: admin },
    async (request) => {
      const tenant = await tenants.get(request.params.id);
      if (tenant === undefined || !seesTenant(principalOf(request), tenant.id)) throw notFound(request.params.id);
      return tenant;
    },
  );

  app.post<{ Body: Partial<TenantInput> & { id: string; name: string } }>(
    '/api/tenants',
    {
      schema: {
        tags: ['tenants'],
        summary: 'Create a tenant',
        security: bearer,
        body: { type: 'object', additionalProperties: false, required: ['id', 'name'], properties: { id: { type: 'string', pattern: idPattern }, ...fields } },
        response: withErrors({ 201: tenantSchema }, 400, 401, 403, 409),
      },
      onRequest: admin,
    },
    async (request, reply) => {
      platformOnly(principalOf(request).tenant);
      const { id, name, plan = 'free', limits = {}, contact = {}, status = 'active' } = request.body;
      return reply.code(201).send(await tenants.create({ id, name, plan, limits, contact, status }));
    },
  );

  app.put<{ Params: { id: string }; Body: Partial<Omit<TenantInput, 'id'>> }>(
    '/api/tenants/:id',
    {
      schema: {
        tags: ['tenants'],
        summary: 'Change a tenant (the fields given)',
        security: bearer,
        params: idParams,
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: fields },
        response: withErrors({ 200: tenantSchema }, 400, 401, 403, 404),
      },
      onRequest: admin,
    },
    async (request) => {
      const principal = principalOf(request);
      if (!seesTenant(principal, request.params.id)) throw notFound(request.params.id);
      platformOnly(principal.tenant);
      return tenants.update(request.params.id, request.body);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/tenants/:id',
    { schema: { tags: ['tenants'], summary: 'Delete a tenant that owns no routes', security: bearer, params: idParams, response: withErrors({ 204: { type: 'null' } }, 401, 403, 404, 409) }, onRequest: admin },
    async (request, reply) => {
      const principal = principalOf(request);
      if (!seesTenant(principal, request.params.id)) throw notFound(request.params.id);
      platformOnly(principal.tenant);
      const id = request.params.id;
      // Unpaid invoices would lose their customer (issue 16): settle them (paid or void) first.
      const open = (await new InvoiceLedger(context.state).list(id)).filter((i) => i.status === 'open').map((i) => i.number);
      if (open.length > 0) throw new VelofluxError('VF_ERR_INVOICES_UNPAID', `tenant "${id}" has ${open.length} open invoice(s): ${open.join(', ')}; mark them paid or void first`);
      await tenants.delete(id, context.config());
      // After the tenant is gone its users are already refused (their tenant does not exist);
      // deleting them also frees their emails, and keeps a reused id from inheriting them.
      const retired = await context.accounts.retireTenant(id);
      if (retired > 0) context.log.info({ tenant: id, users: retired }, 'deleted the users of a deleted tenant');
      return reply.code(204).send();
    },
  );
}
