/**
 * What the data plane needs to know about each tenant, kept current from the worker's replica of
 * the state store (no I/O per request): suspended or not, the plan its record names, and, when
 * its hard request quota is used up, until when. A change made on any instance reaches every
 * worker through the primary's state push, so a suspension is enforced everywhere within a moment.
 */
import type { StateStore } from '../../shared/state/store.js';
import { TENANT_QUOTAS_NAMESPACE, type QuotaExhausted } from '../../shared/billing/quota-record.js';
import { TENANTS_NAMESPACE } from '../../shared/state/namespaces.js';

export interface TenantStanding {
  readonly suspended: boolean;
  /** The plan id the tenant's record names (the stage falls back to the default plan). */
  readonly plan: string | undefined;
  /** Until when (ms since epoch) its hard quota refuses requests; 0 when it does not. */
  readonly quotaResetAt: number;
}

/** A tenant without a record (a route may name one before it is created) is served on the default plan. */
const UNKNOWN: TenantStanding = Object.freeze({ suspended: false, plan: undefined, quotaResetAt: 0 });

interface TenantRecord {
  status?: string;
  plan?: string;
}

export class TenantStandings {
  readonly #state: StateStore;
  #standings = new Map<string, TenantStanding>();
  #rebuilding = false;
  #again = false;

  constructor(state: StateStore) {
    this.#state = state;
    state.onChange((change) => {
      if (change.namespace === TENANTS_NAMESPACE || change.namespace === TENANT_QUOTAS_NAMESPACE) this.#rebuild();
    });
    // The first sync with the primary arrives as a status change.
    state.onStatus(() => this.#rebuild());
    this.#rebuild();
  }

  of(tenant: string): TenantStanding {
    return this.#standings.get(tenant) ?? UNKNOWN;
  }

  /** Reads both namespaces from the local replica and swaps the whole map at once. */
  #rebuild(): void {
    if (this.#rebuilding) {
      this.#again = true;
      return;
    }
    this.#rebuilding = true;
    Promise.all([this.#state.list<TenantRecord>(TENANTS_NAMESPACE), this.#state.list<QuotaExhausted>(TENANT_QUOTAS_NAMESPACE)])
      .then(([tenants, quotas]) => {
        const standings = new Map<string, TenantStanding>();
        for (const id of new Set([...tenants.keys(), ...quotas.keys()])) {
          const record = tenants.get(id)?.value;
          standings.set(id, { suspended: record?.status === 'suspended', plan: record?.plan, quotaResetAt: quotas.get(id)?.value.resetAt ?? 0 });
        }
        this.#standings = standings;
      })
      // Before the first sync the replica has no namespaces yet (reads would go to the primary and
      // fail while it is busy): the standings stay as they were and the sync rebuilds them.
      .catch(() => {})
      .finally(() => {
        this.#rebuilding = false;
        if (this.#again) {
          this.#again = false;
          this.#rebuild();
        }
      });
  }
}
