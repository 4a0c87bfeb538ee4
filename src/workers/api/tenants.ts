/**
 * Tenants (namespace `tenants`, replicated to every worker) and what each principal may see of
 * them and of the objects they own. A tenant owns the routes that name it (`routes[].tenant`) and
 * the pools only its routes use; users bound to a tenant see only those. Anything else is "not
 * found" to them (404, never 403), so ids of other tenants are not confirmed.
 */
import { displayName } from '../../shared/auth/identity.js';
import { VelofluxError } from '../../shared/errors.js';
import type { VelofluxConfig } from '../../shared/config/schema.js';
import type { StateStore } from '../../shared/state/store.js';
import type { Principal } from './authenticate.js';
import { poolTenant } from '../../shared/config/tenant-ownership.js';
import { TENANTS_NAMESPACE } from '../../shared/state/namespaces.js';
import { idPattern } from './schemas.js';

// Moved to shared: the primary's backend address policy asks it too.
export { poolTenant };

export { TENANTS_NAMESPACE };

export interface Tenant {
  id: string;
  name: string;
  plan: string;
  limits: { requestsPerSecond?: number; monthlyRequests?: number };
  contact: { name?: string; email?: string };
  status: 'active' | 'suspended';
  createdAt: string;
  updatedAt: string;
}

export type TenantInput = Omit<Tenant, 'createdAt' | 'updatedAt'>;

export class Tenants {
  readonly #store: StateStore;

  constructor(store: StateStore) {
    this.#store = store;
  }

  async list(): Promise<Tenant[]> {
    return [...(await this.#store.list<Tenant>(TENANTS_NAMESPACE)).values()].map((r) => r.value).sort((a, b) => a.id.localeCompare(b.id));
  }

  async get(id: string): Promise<Tenant | undefined> {
    return (await this.#store.get<Tenant>(TENANTS_NAMESPACE, id))?.value;
  }

  async create(input: TenantInput): Promise<Tenant> {
    const now = new Date().toISOString();
    const tenant: Tenant = { ...input, name: displayName(input.name, 'the tenant name'), createdAt: now, updatedAt: now };
    try {
      await this.#store.put(TENANTS_NAMESPACE, input.id, tenant, { expectedVersion: 0 });
    } catch (err) {
      if ((err as VelofluxError).code === 'VF_ERR_STATE_CONFLICT') throw new VelofluxError('VF_ERR_TENANT_EXISTS', `a tenant "${input.id}" already exists`);
      throw err;
    }
    return tenant;
  }

  async update(id: string, patch: Partial<Omit<TenantInput, 'id'>>): Promise<Tenant> {
    const record = await this.#store.get<Tenant>(TENANTS_NAMESPACE, id);
    if (record === undefined) throw notFound(id);
    const tenant: Tenant = { ...record.value, ...patch, ...(patch.name !== undefined ? { name: displayName(patch.name, 'the tenant name') } : {}), id, updatedAt: new Date().toISOString() };
    await this.#store.put(TENANTS_NAMESPACE, id, tenant, { expectedVersion: record.version });
    return tenant;
  }

  /** Refused while routes name the tenant: its traffic would lose its owner. */
  async delete(id: string, config: Readonly<VelofluxConfig>): Promise<void> {
    const routes = config.routes.filter((r) => r.tenant === id).map((r) => `${r.host}${r.path}`);
    if (routes.length > 0) throw new VelofluxError('VF_ERR_TENANT_IN_USE', `tenant "${id}" still owns ${routes.length} route(s): ${routes.join(', ')}; move or remove them first`);
    if (!(await this.#store.delete(TENANTS_NAMESPACE, id))) throw notFound(id);
  }
}

export function notFound(id: string): VelofluxError {
  return new VelofluxError('VF_ERR_NOT_FOUND', `no tenant "${id}"`);
}

/** True when the principal may see objects of `tenant` (null: platform-wide objects). */
export function seesTenant(principal: Principal | null, tenant: string | null | undefined): boolean {
  if (principal === null || principal.tenant === null) return true;
  return tenant === principal.tenant;
}

/** The pools the principal may see and change. */
export function visiblePools(config: Readonly<VelofluxConfig>, principal: Principal | null): Set<string> {
  return new Set(config.pools.filter((p) => seesTenant(principal, poolTenant(config, p.name))).map((p) => p.name));
}

/** `?tenant=<id>`: which tenant a per-tenant read is about. */
export const tenantQuerySchema = { type: 'object', additionalProperties: false, properties: { tenant: { type: 'string', pattern: idPattern } } } as const;

/**
 * The tenant a per-tenant read is about: the one asked for, else the principal's own. Platform
 * users must name one (400); another tenant's is "not found", as everywhere.
 */
export function tenantAskedFor(principal: Principal, asked: string | undefined): string {
  const id = asked ?? principal.tenant;
  if (id === null) throw new VelofluxError('VF_ERR_VALIDATION', 'name the tenant: ?tenant=<id>');
  if (!seesTenant(principal, id)) throw notFound(id);
  return id;
}
