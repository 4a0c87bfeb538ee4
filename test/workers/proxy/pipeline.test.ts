/**
 * Route stages are compiled once per snapshot: a route gets exactly the stages its config asks
 * for, in the pipeline's order, and a route that uses none gets an empty list (it pays nothing).
 */
import t from 'tap';
import { validateConfig } from '../../../src/shared/config/load.js';
import { compileRouteStages, compileStages } from '../../../src/workers/proxy/stages/pipeline.js';
import { RateLimitStage } from '../../../src/workers/proxy/stages/rate-limit.js';
import { RedirectHttpsStage } from '../../../src/workers/proxy/stages/redirect-https.js';
import { TenantAccessStage } from '../../../src/workers/proxy/stages/tenant-access.js';
import { RateLimitRegistry } from '../../../src/workers/rate-limit/rate-limit-registry.js';
import { TenantStandings } from '../../../src/workers/tenancy/tenant-standings.js';
import { EmbeddedStateStore } from '../../../src/shared/state/embedded-store.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecurityStage } from '../../../src/workers/proxy/stages/security.js';
import { SecurityPolicy } from '../../../src/workers/security/security-policy.js';
import { LiveIpLists } from '../../../src/workers/security/live-ip-lists.js';

const config = validateConfig(
  {
    pools: [{ name: 'web', backends: [{ id: 'w1', url: 'http://127.0.0.1:9' }] }],
    rateLimits: [{ name: 'per-ip', rate: 10, burst: 10, key: 'ip' }],
    routes: [
      { path: '/plain/', pool: 'web' },
      { path: '/limited/', pool: 'web', rateLimit: 'per-ip' },
      { path: '/secure/', pool: 'web', redirectHttps: true },
      { path: '/both/', pool: 'web', redirectHttps: true, rateLimit: 'per-ip' },
      { path: '/acme/', pool: 'web', tenant: 'acme', redirectHttps: true, rateLimit: 'per-ip' },
      { path: '/acme-guarded/', pool: 'web', tenant: 'acme', rateLimit: 'per-ip', security: { mode: 'block' } },
      { path: '/guarded/', pool: 'web', redirectHttps: true, rateLimit: 'per-ip', security: { mode: 'block' } },
      { path: '/watched/', pool: 'web', security: { mode: 'detect' } },
      { path: '/open/', pool: 'web', security: { mode: 'off' } },
    ],
  },
  'test',
  {},
);
const registry = new RateLimitRegistry();
const store = await EmbeddedStateStore.open(mkdtempSync(join(tmpdir(), 'vf-pipeline-')), 'test');
const context = { ports: { https: 443 }, rateLimiters: new Map(config.rateLimits.map((p) => [p.name, registry.limiterFor(p)])), tenants: new TenantStandings(store), billing: config.billing, security: new SecurityPolicy(config.security, new LiveIpLists()) };
const stagesOf = (path: string) => compileStages(config.routes.find((r) => r.path === path)!, context).map((stage) => stage.constructor);

t.test('a route without features has no stage at all', async (t) => {
  t.same(stagesOf('/plain/'), []);
  t.equal(compileStages(config.routes[0]!, context), compileStages(config.routes[0]!, context), 'the same frozen empty list, nothing allocated per route');
});

t.test('each feature adds its stage, in the pipeline order: redirect before rate limit', async (t) => {
  t.same(stagesOf('/limited/'), [RateLimitStage]);
  t.same(stagesOf('/secure/'), [RedirectHttpsStage]);
  t.same(stagesOf('/both/'), [RedirectHttpsStage, RateLimitStage], 'a request to be redirected never takes a token');
  t.same(stagesOf('/acme/'), [RedirectHttpsStage, TenantAccessStage, RateLimitStage], "a tenant's refused request takes no token of the route's policy");
});

t.test('the security filter sits between the redirect and the rate limit, on routes whose mode is not off', async (t) => {
  t.same(stagesOf('/guarded/'), [RedirectHttpsStage, SecurityStage, RateLimitStage], 'an attack is refused before it takes a token');
  t.same(stagesOf('/watched/'), [SecurityStage]);
  t.same(stagesOf('/open/'), [], 'mode off and no address lists: no stage');
  const guarded = compileRouteStages(config.routes.find((r) => r.path === '/open/')!, context);
  t.same(guarded.guardedStages.map((s) => s.constructor), [SecurityStage], 'but one while the live address lists have entries');
  const both = compileRouteStages(config.routes.find((r) => r.path === '/guarded/')!, context);
  t.equal(both.guardedStages, both.stages, 'a route with the stage anyway shares its list');
  t.same(stagesOf('/acme-guarded/'), [SecurityStage, TenantAccessStage, RateLimitStage], "an attack is refused before it counts against the tenant's plan");
  const withDeny = validateConfig({ pools: [{ name: 'web', backends: [{ id: 'w1', url: 'http://127.0.0.1:9' }] }], routes: [{ path: '/', pool: 'web' }], security: { ipDeny: ['203.0.113.0/24'] } }, 'test', {});
  const denyContext = { ...context, security: new SecurityPolicy(withDeny.security, new LiveIpLists()) };
  t.same(compileStages(withDeny.routes[0]!, denyContext).map((s) => s.constructor), [SecurityStage], 'a deny list applies to routes in mode off too');
});
