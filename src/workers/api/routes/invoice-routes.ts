/**
 * Invoices over the main API (issue 16): GET /api/billing/history (a tenant's invoices, newest
 * first), GET /api/billing/invoices/{number} as JSON, or as CSV with `?format=csv` or
 * `Accept: text/csv`, and POST /api/billing/invoices/{number}/status to mark an open invoice paid
 * or void (platform admins). A tenant's users see their own tenant's invoices only; another
 * tenant's invoice is "not found", as everywhere.
 */
import type { FastifyInstance } from 'fastify';
import { VelofluxError } from '../../../shared/errors.js';
import { InvoiceLedger } from '../../../shared/billing/invoice-ledger.js';
import { invoiceCsv } from '../../../shared/billing/invoice-csv.js';
import type { Invoice } from '../../../shared/billing/invoice.js';
import type { ApiContext } from '../api-context.js';
import { principalOf, type Principal } from '../authenticate.js';
import { bearer, withErrors } from '../schemas.js';
import { notFound, seesTenant, tenantAskedFor, tenantQuerySchema } from '../tenants.js';

const anyObject = { type: 'object', additionalProperties: true } as const;
const numberParams = { type: 'object', required: ['number'], properties: { number: { type: 'string', pattern: '^[1-9][0-9]{0,14}$' } } } as const;

const summaryOf = (i: Invoice) => ({ number: i.number, tenant: i.tenant, period: i.period, plan: i.plan, total: i.total, currency: i.currency, status: i.status, issuedAt: i.issuedAt });

export function registerInvoiceRoutes(app: FastifyInstance, context: ApiContext): void {
  const ledger = new InvoiceLedger(context.state);
  const invoiceFor = async (principal: Principal, number: number): Promise<Invoice> => {
    const invoice = await ledger.get(number);
    if (invoice === undefined || !seesTenant(principal, invoice.tenant)) throw new VelofluxError('VF_ERR_NOT_FOUND', `no invoice ${number}`);
    return invoice;
  };

  app.get<{ Querystring: { tenant?: string } }>(
    '/api/billing/history',
    {
      schema: {
        tags: ['billing'],
        summary: "A tenant's invoices, newest first (amounts in minor units)",
        security: bearer,
        querystring: tenantQuerySchema,
        response: withErrors({ 200: anyObject }, 400, 401, 404),
      },
      onRequest: context.auth.require('viewer'),
    },
    async (request) => {
      const id = tenantAskedFor(principalOf(request), request.query.tenant);
      const invoices = await ledger.list(id);
      if (invoices.length === 0 && (await context.tenants.get(id)) === undefined) throw notFound(id);
      return { tenant: id, invoices: invoices.map(summaryOf) };
    },
  );

  app.get<{ Params: { number: string }; Querystring: { format?: 'json' | 'csv' } }>(
    '/api/billing/invoices/:number',
    {
      schema: {
        tags: ['billing'],
        summary: 'One invoice with its line items, as JSON or CSV (?format=csv or Accept: text/csv)',
        security: bearer,
        params: numberParams,
        querystring: { type: 'object', additionalProperties: false, properties: { format: { type: 'string', enum: ['json', 'csv'] } } },
        response: withErrors({}, 401, 404),
      },
      onRequest: context.auth.require('viewer'),
    },
    async (request, reply) => {
      const invoice = await invoiceFor(principalOf(request), Number(request.params.number));
      const csv = request.query.format === 'csv' || (request.query.format === undefined && /\btext\/csv\b/i.test(request.headers.accept ?? ''));
      if (!csv) return invoice;
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="invoice-${invoice.number}.csv"`)
        .send(invoiceCsv(invoice));
    },
  );

  app.post<{ Params: { number: string }; Body: { status: 'paid' | 'void' } }>(
    '/api/billing/invoices/:number/status',
    {
      schema: {
        tags: ['billing'],
        summary: 'Mark an open invoice paid or void (platform admins)',
        security: bearer,
        params: numberParams,
        body: { type: 'object', additionalProperties: false, required: ['status'], properties: { status: { type: 'string', enum: ['paid', 'void'] } } },
        response: withErrors({ 200: anyObject }, 400, 401, 403, 404, 409),
      },
      onRequest: context.auth.require('admin'),
    },
    async (request) => {
      const principal = principalOf(request);
      await invoiceFor(principal, Number(request.params.number));
      if (principal.tenant !== null) throw new VelofluxError('VF_ERR_FORBIDDEN', 'only admins without a tenant mark invoices paid or void');
      const invoice = await ledger.setStatus(Number(request.params.number), request.body.status);
      context.log.info({ invoice: invoice.number, tenant: invoice.tenant, status: invoice.status, by: principal.email }, 'invoice status changed');
      return invoice;
    },
  );
}
