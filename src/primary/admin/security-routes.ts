/**
 * The live address lists on the admin API (issue 17): GET and PUT /admin/security/ip-lists. The
 * same record the main API edits (shared/security-ip-lists.ts), written to the state store, from
 * which every worker (of every instance, with Redis) applies it to its next request; audited.
 */
import type { FastifyInstance } from 'fastify';
import { VelofluxError } from '../../shared/errors.js';
import { IP_LISTS_ID, IP_LISTS_NAMESPACE, parseIpLists, type LiveIpListsRecord } from '../../shared/security-ip-lists.js';
import { actorOf, type AdminContext } from './server.js';

export function registerSecurityRoutes(app: FastifyInstance, { controller, audit }: AdminContext): void {
  const read = async () => {
    const record = await controller.store.get<LiveIpListsRecord>(IP_LISTS_NAMESPACE, IP_LISTS_ID);
    const { security } = controller.config;
    return {
      allow: record?.value.allow ?? [],
      deny: record?.value.deny ?? [],
      configured: { allow: security.ipAllow, deny: security.ipDeny },
      version: record?.version ?? 0,
      updatedAt: record?.value.updatedAt ?? null,
      updatedBy: record?.value.updatedBy ?? null,
    };
  };

  app.get('/admin/security/ip-lists', async () => read());

  app.put<{ Body: unknown }>('/admin/security/ip-lists', { schema: { body: { type: 'object' } } }, async (request) => {
    const actor = actorOf(request);
    const parsed = parseIpLists(request.body);
    if ('problems' in parsed) {
      audit.record({ actor, action: 'security.ip-lists', outcome: 'rejected', detail: parsed.problems });
      throw new VelofluxError('VF_ERR_VALIDATION', parsed.problems.map((p) => `${p.field}: ${p.problem}`).join('; '));
    }
    const value: LiveIpListsRecord = { ...parsed, updatedAt: new Date().toISOString(), updatedBy: 'admin-api' };
    await controller.store.put(IP_LISTS_NAMESPACE, IP_LISTS_ID, value);
    audit.record({ actor, action: 'security.ip-lists', outcome: 'applied', detail: { allow: parsed.allow.length, deny: parsed.deny.length } });
    return read();
  });
}
