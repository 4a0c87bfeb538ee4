/**
 * Checks that need the whole config: unique pool names, backend ids, rate limit names and plan ids,
 * routes that name a known pool and rate limit, a default plan that exists, consistent_hash with a key. It reads the raw (unvalidated) input defensively so these
 * problems are reported together with field errors instead of after they are fixed.
 */
import type { ConfigProblem } from './problems.js';

type Loose = Record<string, unknown>;
const isObject = (v: unknown): v is Loose => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

export function checkReferences(raw: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!isObject(raw)) return problems;
  const poolNames = new Set<string>();
  const backendIds = new Set<string>();
  list(raw.pools).forEach((pool, i) => {
    if (!isObject(pool)) return;
    if (typeof pool.name === 'string') {
      if (poolNames.has(pool.name)) problems.push({ path: ['pools', i, 'name'], message: `duplicate pool name "${pool.name}"` });
      poolNames.add(pool.name);
    }
    if (pool.algorithm === 'consistent_hash' && pool.hashKey === undefined) {
      problems.push({ path: ['pools', i, 'hashKey'], message: 'consistent_hash needs hashKey (header:<name>, cookie:<name> or path)' });
    }
    list(pool.backends).forEach((backend, j) => {
      if (!isObject(backend) || typeof backend.id !== 'string') return;
      // Backend ids key the counters that survive reloads, so they are unique across pools.
      if (backendIds.has(backend.id)) problems.push({ path: ['pools', i, 'backends', j, 'id'], message: `duplicate backend id "${backend.id}"` });
      backendIds.add(backend.id);
    });
  });
  const rateLimitNames = new Set<string>();
  list(raw.rateLimits).forEach((policy, i) => {
    if (!isObject(policy) || typeof policy.name !== 'string') return;
    // Routes name a policy, and the coordinator and Redis key its shares by name.
    if (rateLimitNames.has(policy.name)) problems.push({ path: ['rateLimits', i, 'name'], message: `duplicate rate limit name "${policy.name}"` });
    rateLimitNames.add(policy.name);
  });
  const routeKeys = new Set<string>();
  list(raw.routes).forEach((route, i) => {
    if (!isObject(route)) return;
    if (typeof route.pool === 'string' && !poolNames.has(route.pool)) {
      problems.push({ path: ['routes', i, 'pool'], message: `unknown pool "${route.pool}"` });
    }
    if (typeof route.rateLimit === 'string' && !rateLimitNames.has(route.rateLimit)) {
      problems.push({ path: ['routes', i, 'rateLimit'], message: `unknown rate limit "${route.rateLimit}"` });
    }
    const key = `${String(route.host ?? '*')} ${String(route.path ?? '/')}`;
    if (routeKeys.has(key)) problems.push({ path: ['routes', i], message: `duplicate route for host and path "${key}"` });
    routeKeys.add(key);
  });
  problems.push(...checkPlans(raw.billing));
  return problems;
}

/** Plan ids are unique (tenant records name them) and the default plan exists. */
function checkPlans(billing: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!isObject(billing)) return problems;
  const planIds = new Set<string>();
  list(billing.plans).forEach((plan, i) => {
    if (!isObject(plan) || typeof plan.id !== 'string') return;
    if (planIds.has(plan.id)) problems.push({ path: ['billing', 'plans', i, 'id'], message: `duplicate plan id "${plan.id}"` });
    planIds.add(plan.id);
  });
  if (typeof billing.defaultPlan === 'string' && !planIds.has(billing.defaultPlan)) problems.push({ path: ['billing', 'defaultPlan'], message: `no plan has id "${billing.defaultPlan}"` });
  return problems;
}
