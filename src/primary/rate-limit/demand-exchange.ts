/**
 * How an instance learns its share of each rate limit key across instances. Embedded mode has
 * one instance (embedded-demand-exchange.ts); with Redis every instance records its demand per key
 * and gets back its part of the global rate (redis-demand-exchange.ts).
 */

export interface KeyDemand {
  readonly policy: string;
  /** The worker's namespaced key (`ip:...`, `h:...`), opaque here. */
  readonly key: string;
  /** Requests per second on this instance (smoothed over its workers). */
  readonly demand: number;
}

export interface InstanceShares {
  /** This instance's part of each key's global rate, in (0, 1], in the order the demands were given. */
  readonly shares: number[];
  /** Instances taking part, this one included: keys without a share get 1 / (workers × instances). */
  readonly instances: number;
}

export interface DemandExchange {
  /**
   * Called by the coordinator every RATE_LIMIT_TICK_MS, also with no demands (it then only
   * refreshes `instances`). Never rejects: when the other instances cannot be reached, it answers
   * with its documented fallback.
   */
  exchange(demands: readonly KeyDemand[]): Promise<InstanceShares>;
  close(): Promise<void>;
}
