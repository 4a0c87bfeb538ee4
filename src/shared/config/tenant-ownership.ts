/**
 * Which tenant owns a pool or a backend, from the config alone, so the workers (what a user may
 * see) and the primary (the backend address policy) answer the same way.
 */
import type { VelofluxConfig } from './schema.js';

/**
 * The tenant owning a pool: the one tenant all routes naming the pool belong to; null when the
 * pool is shared, unrouted, or routed by platform (tenant-less) routes.
 */
export function poolTenant(config: Readonly<VelofluxConfig>, pool: string): string | null {
  const owners = new Set(config.routes.filter((r) => r.pool === pool).map((r) => r.tenant ?? null));
  return owners.size === 1 ? [...owners][0]! : null;
}

/** Origins (`http://10.0.0.5:8080`) of the backends each tenant owns: those it added, and those of its pools. */
export function tenantOrigins(config: Readonly<VelofluxConfig>): Map<string, Set<string>> {
  const byOrigin = new Map<string, Set<string>>();
  for (const pool of config.pools) {
    const owner = poolTenant(config, pool.name);
    for (const backend of pool.backends) {
      const tenant = backend.tenant ?? owner;
      if (tenant === null) continue;
      const origin = new URL(backend.url).origin;
      let owners = byOrigin.get(origin);
      if (owners === undefined) byOrigin.set(origin, (owners = new Set()));
      owners.add(tenant);
    }
  }
  return byOrigin;
}
