/**
 * Route stages are compiled once per snapshot: a route gets exactly the stages its config asks
 * for, in the pipeline's order, and a route that uses none gets an empty list (it pays nothing).
 */
import t from 'tap';
import { validateConfig } from '../../../src/shared/config/load.js';
import { compileStages } from '../../../src/workers/proxy/stages/pipeline.js';
import { RateLimitStage } from '../../../src/workers/proxy/stages/rate-limit.js';
import { RedirectHttpsStage } from '../../../src/workers/proxy/stages/redirect-https.js';
import { TenantAccessStage } from '../../../src/workers/proxy/stages/tenant-access.js';
import { RateLimitRegistry } from '../../../src/workers/rate-limit/rate-limit-registry.js';
import { TenantStandings } from '../../../src/workers/tenancy/tenant-standings.js';
import { EmbeddedStateStore } from '../../../src/shared/state/embedded-store.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
    ],
  },
  'test',
  {},
);
const registry = new RateLimitRegistry();
const store = await EmbeddedStateStore.open(mkdtempSync(join(tmpdir(), 'vf-pipeline-')), 'test');
const context = { ports: { https: 443 }, rateLimiters: new Map(config.rateLimits.map((p) => [p.name, registry.limiterFor(p)])), tenants: new TenantStandings(store), billing: config.billing };
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
