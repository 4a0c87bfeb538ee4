import type { Backend } from '../runtime/backend.js';
import type { PickContext } from './balancer.js';
import { CachedTableBalancer } from './cached-table-balancer.js';

/**
 * Weighted random. A cumulative-weight table over the available backends is rebuilt on health and
 * weight events, so a pick is one `Math.random()` and a binary search. Health and weight changes
 * should arrive through `setHealthy` / `setWeight`; one made behind the balancer's back is caught
 * when the drawn backend turns out unavailable, or when nothing seems available, by a rebuild.
 */
export class RandomBalancer extends CachedTableBalancer {
  readonly #backends: readonly Backend[];
  /**
   * `cumulativeWeights[i]` is the summed weight of available backends at positions 0..i; an
   * unavailable backend adds nothing, so it owns an empty interval and is never landed on.
   */
  readonly #cumulativeWeights: Float64Array;
  #totalWeight = 0;

  constructor(backends: readonly Backend[]) {
    super();
    this.#backends = backends;
    this.#cumulativeWeights = new Float64Array(backends.length);
    this.rebuild();
  }

  pick(_ctx: PickContext, exclude?: readonly Backend[]): Backend | undefined {
    if (exclude !== undefined && exclude.length > 0) return this.#pickExcluding(exclude);
    if (this.#totalWeight > 0) {
      const chosen = this.#draw();
      if (chosen.available) return chosen;
    }
    // Nothing drawable, or health or weight was changed without going through this balancer:
    // resync and draw again. Costs a scan only while everything is down.
    this.rebuild();
    return this.#totalWeight > 0 ? this.#draw() : undefined;
  }

  /** The backend whose cumulative-weight interval holds a uniform draw over the total. */
  #draw(): Backend {
    const cumulative = this.#cumulativeWeights;
    const target = Math.random() * this.#totalWeight;
    let low = 0;
    let high = cumulative.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (cumulative[middle]! > target) high = middle;
      else low = middle + 1;
    }
    return this.#backends[low]!;
  }

  /** Retries are rare: two linear passes over the pool, skipping what was already tried. */
  #pickExcluding(exclude: readonly Backend[]): Backend | undefined {
    const backends = this.#backends;
    let eligibleWeight = 0;
    for (let i = 0; i < backends.length; i++) {
      const backend = backends[i]!;
      if (backend.available && !exclude.includes(backend)) eligibleWeight += backend.weight;
    }
    if (eligibleWeight <= 0) return undefined;
    let target = Math.random() * eligibleWeight;
    let lastEligible: Backend | undefined;
    for (let i = 0; i < backends.length; i++) {
      const backend = backends[i]!;
      if (!backend.available || exclude.includes(backend)) continue;
      lastEligible = backend;
      target -= backend.weight;
      if (target < 0) return backend;
    }
    // Only reachable through floating-point rounding at the very end of the range.
    return lastEligible;
  }

  protected rebuild(): void {
    const backends = this.#backends;
    let total = 0;
    for (let i = 0; i < backends.length; i++) {
      const backend = backends[i]!;
      if (backend.available) total += backend.weight;
      this.#cumulativeWeights[i] = total;
    }
    this.#totalWeight = total;
  }
}
