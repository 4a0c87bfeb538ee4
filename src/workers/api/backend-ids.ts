/**
 * Backend ids are one name space for the whole instance (the config, metrics and health all key
 * on them), so a tenant's ids live in a part of it no other tenant can reach (issue 14, item 8):
 * `<tenant>.<name>`, where `name` has no ".". The owner of an id is what precedes its last ".";
 * that is unambiguous even for a tenant id that itself holds a "." (tenant "a.b" owns "a.b.x",
 * tenant "a" owns "a.x" and never "a.b.x", since its names have no "."). So a tenant user can
 * neither take nor probe another tenant's ids: every id they can ask to create is their own.
 *
 * The previous rule (ids start with "<tenant>-") let tenant "acme" create "acme-corp-1" in tenant
 * "acme-corp"'s space, and learn from a 409 that it existed.
 */
import { VelofluxError } from '../../shared/errors.js';

export const TENANT_ID_SEPARATOR = '.';

/** The tenant whose name space `id` is in, or null for a platform id (no "."). */
export function ownerOfBackendId(id: string): string | null {
  const last = id.lastIndexOf(TENANT_ID_SEPARATOR);
  return last <= 0 ? null : id.slice(0, last);
}

/**
 * The id to store for a backend `requested` by a user of `callerTenant` (null: a platform user)
 * into a pool owned by `poolTenant` (poolTenant in tenants.ts). A tenant user may give the short
 * name or the full id; the answer never depends on which backends exist, only on the request.
 */
export function backendIdToCreate(requested: string, callerTenant: string | null, poolTenant: string | null): string {
  if (callerTenant !== null) {
    const name = requested.startsWith(callerTenant + TENANT_ID_SEPARATOR) ? requested.slice(callerTenant.length + 1) : requested;
    if (name === '' || name.includes(TENANT_ID_SEPARATOR)) {
      throw new VelofluxError('VF_ERR_VALIDATION', `backend ids of tenant "${callerTenant}" are "${callerTenant}${TENANT_ID_SEPARATOR}<name>" with no "${TENANT_ID_SEPARATOR}" in <name>; give <name> or the whole id`);
    }
    return `${callerTenant}${TENANT_ID_SEPARATOR}${name}`;
  }
  // A platform user may add to any pool, but an id in a tenant's name space only to that tenant's
  // pools: otherwise the tenant could later hit it with a 409 on an object it cannot see.
  const owner = ownerOfBackendId(requested);
  if (owner !== null && owner !== poolTenant) {
    throw new VelofluxError('VF_ERR_VALIDATION', `a backend id with a "${TENANT_ID_SEPARATOR}" belongs to tenant "${owner}" and goes only into that tenant's pools; use an id without "${TENANT_ID_SEPARATOR}"`);
  }
  return requested;
}
