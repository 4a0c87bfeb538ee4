/**
 * Moving a tenant to another plan (POST /api/billing/upgrade, issue 16). A move to a plan that
 * costs as much or more applies at once: the tenant record names the new plan (every worker's
 * TenantStandings follows it, so rate limits and quotas change on the data plane at once) and a
 * plan-change record carries the proration lines for the period's invoice (plan-change.ts). A move
 * to a cheaper plan is scheduled for the period's end (namespace `plan-schedules`, applied by the
 * leader before it closes the period) unless `immediate`, which applies it now with a net credit.
 *
 * Refused: an unknown plan (400, named), the plan the tenant is on or is already moving to (409),
 * a plan whose maxRoutes or maxBackends the tenant is over (409, saying what to remove), a plan in
 * another currency (400).
 */
import { VelofluxError } from '../errors.js';
import type { BillingConfig, VelofluxConfig } from '../config/schema.js';
import { poolTenant } from '../config/tenant-ownership.js';
import type { StateStore } from '../state/store.js';
import { TENANTS_NAMESPACE } from '../state/namespaces.js';
import { periodAt } from './billing-period.js';
import type { InvoiceLine } from './invoice.js';
import { effectivePlanId } from './plan-rate-limits.js';
import { PLAN_CHANGES_NAMESPACE, planChangeId, prorationLines, type PlanChange } from './plan-change.js';

export const PLAN_SCHEDULES_NAMESPACE = 'plan-schedules';

export interface ScheduledPlanChange {
  tenant: string;
  from: string;
  to: string;
  /** The end of the period it was asked in. */
  effectiveAt: number;
  requestedAt: number;
  by: string;
}

export interface PlanSwitchRequest {
  tenant: string;
  plan: string;
  immediate: boolean;
  /** Who asked (user email), for the records. */
  by: string;
  /** Answer what the change would do (when, which proration lines) and change nothing. */
  preview?: boolean;
}

export interface PlanSwitchResult {
  tenant: string;
  from: string;
  to: string;
  /** `now`: the tenant is on the new plan; `period-end`: it moves when the period ends. */
  effective: 'now' | 'period-end';
  effectiveAt: string;
  /** The lines added to the invoice of the current period (none for a scheduled move). */
  prorations: InvoiceLine[];
  prorationTotal: number;
  currency: string;
  /** True when nothing was changed (a preview). */
  preview?: boolean;
}

interface TenantRecord {
  id: string;
  plan?: string;
  updatedAt?: string;
}

/** A tenant on no configured plan moves from this: nothing to credit. */
const NO_PLAN = { name: 'no plan', price: 0 } as const;

export class PlanSwitch {
  readonly #store: StateStore;
  readonly #config: () => Readonly<VelofluxConfig>;

  constructor(store: StateStore, config: () => Readonly<VelofluxConfig>) {
    this.#store = store;
    this.#config = config;
  }

  async change(request: PlanSwitchRequest, now: number = Date.now()): Promise<PlanSwitchResult> {
    const config = this.#config();
    const { billing } = config;
    const target = billing.plans.find((p) => p.id === request.plan);
    if (target === undefined) throw new VelofluxError('VF_ERR_UNKNOWN_PLAN', `no plan "${request.plan}"; the plans are: ${billing.plans.map((p) => p.id).join(', ') || 'none'}`);
    const record = await this.#store.get<TenantRecord>(TENANTS_NAMESPACE, request.tenant);
    if (record === undefined) throw new VelofluxError('VF_ERR_NOT_FOUND', `no tenant "${request.tenant}"`);
    const currentId = effectivePlanId(billing, record.value.plan);
    const current = billing.plans.find((p) => p.id === currentId);
    if (currentId === target.id) throw new VelofluxError('VF_ERR_PLAN_UNCHANGED', `tenant "${request.tenant}" is already on plan "${target.id}"`);
    if (current !== undefined && current.currency !== target.currency) throw new VelofluxError('VF_ERR_VALIDATION', `plan "${target.id}" is billed in ${target.currency}, the tenant's plan "${current.id}" in ${current.currency}`);
    const overLimits = this.#overLimits(config, request.tenant, target);
    if (overLimits !== undefined) throw new VelofluxError('VF_ERR_PLAN_LIMITS', overLimits);
    const scheduled = (await this.#store.get<ScheduledPlanChange>(PLAN_SCHEDULES_NAMESPACE, request.tenant))?.value;
    const period = periodAt(billing.period, now);
    const from = current?.id ?? record.value.plan ?? '';

    if (target.price < (current?.price ?? 0) && !request.immediate) {
      if (scheduled?.to === target.id) throw new VelofluxError('VF_ERR_PLAN_UNCHANGED', `tenant "${request.tenant}" already moves to plan "${target.id}" at ${new Date(scheduled.effectiveAt).toISOString()}`);
      const result: PlanSwitchResult = { tenant: request.tenant, from, to: target.id, effective: 'period-end', effectiveAt: new Date(period.end).toISOString(), prorations: [], prorationTotal: 0, currency: target.currency };
      if (request.preview === true) return { ...result, preview: true };
      const schedule: ScheduledPlanChange = { tenant: request.tenant, from, to: target.id, effectiveAt: period.end, requestedAt: now, by: request.by };
      await this.#store.put(PLAN_SCHEDULES_NAMESPACE, request.tenant, schedule);
      return result;
    }

    const prorations = prorationLines(current ?? NO_PLAN, target, period, now);
    const result: PlanSwitchResult = { tenant: request.tenant, from, to: target.id, effective: 'now', effectiveAt: new Date(now).toISOString(), prorations, prorationTotal: prorations.reduce((sum, l) => sum + l.amount, 0), currency: target.currency };
    if (request.preview === true) return { ...result, preview: true };
    const change: PlanChange = { tenant: request.tenant, at: now, periodStart: period.start, from, to: target.id, scheduled: false, prorations, by: request.by };
    await this.#apply(change, record.version);
    // An upgrade (or an immediate move) replaces a move scheduled for the period's end.
    if (scheduled !== undefined) await this.#store.delete(PLAN_SCHEDULES_NAMESPACE, request.tenant);
    return result;
  }

  /** Applies the moves scheduled for a period's end that has passed (the leader, before closing it). */
  async applyScheduled(now: number = Date.now()): Promise<ScheduledPlanChange[]> {
    const applied: ScheduledPlanChange[] = [];
    for (const [tenant, { value: schedule }] of await this.#store.list<ScheduledPlanChange>(PLAN_SCHEDULES_NAMESPACE)) {
      if (schedule.effectiveAt > now) continue;
      const record = await this.#store.get<TenantRecord>(TENANTS_NAMESPACE, tenant);
      if (record !== undefined) {
        const change: PlanChange = { tenant, at: schedule.effectiveAt, periodStart: schedule.effectiveAt, from: schedule.from, to: schedule.to, scheduled: true, prorations: [], by: schedule.by };
        await this.#apply(change, record.version);
        applied.push(schedule);
      }
      await this.#store.delete(PLAN_SCHEDULES_NAMESPACE, tenant);
    }
    return applied;
  }

  /**
   * The change record first, then the tenant record at the version read: a concurrent change of
   * the tenant makes this one fail (and its record is taken back), so two moves never both apply.
   */
  async #apply(change: PlanChange, tenantVersion: number): Promise<void> {
    const id = planChangeId(change);
    await this.#store.put(PLAN_CHANGES_NAMESPACE, id, change, { expectedVersion: 0 });
    try {
      const record = await this.#store.get<TenantRecord>(TENANTS_NAMESPACE, change.tenant);
      if (record === undefined || record.version !== tenantVersion) throw new VelofluxError('VF_ERR_STATE_CONFLICT', `tenant "${change.tenant}" changed meanwhile; try again`);
      await this.#store.put(TENANTS_NAMESPACE, change.tenant, { ...record.value, plan: change.to, updatedAt: new Date().toISOString() }, { expectedVersion: tenantVersion });
    } catch (err) {
      await this.#store.delete(PLAN_CHANGES_NAMESPACE, id).catch(() => {});
      throw err;
    }
  }

  /** What the tenant would have to remove to fit `plan`'s maxRoutes and maxBackends, or undefined. */
  #overLimits(config: Readonly<VelofluxConfig>, tenant: string, plan: BillingConfig['plans'][number]): string | undefined {
    const problems: string[] = [];
    const routes = config.routes.filter((r) => r.tenant === tenant).map((r) => `${r.host}${r.path}`);
    const { maxRoutes, maxBackends } = plan.limits;
    if (maxRoutes !== undefined && routes.length > maxRoutes) problems.push(`it has ${routes.length} routes and plan "${plan.id}" allows ${maxRoutes}: remove ${routes.length - maxRoutes} of ${routes.join(', ')}`);
    const backends = config.pools.filter((p) => poolTenant(config, p.name) === tenant).flatMap((p) => p.backends.map((b) => b.id));
    if (maxBackends !== undefined && backends.length > maxBackends) problems.push(`it has ${backends.length} backends and plan "${plan.id}" allows ${maxBackends}: remove ${backends.length - maxBackends} of ${backends.join(', ')}`);
    return problems.length === 0 ? undefined : `tenant "${tenant}" does not fit plan "${plan.id}": ${problems.join('; ')}`;
  }
}
