import type { Backend } from '../runtime/backend.js';
import type { PickContext } from './balancer.js';
import { CachedTableBalancer } from './cached-table-balancer.js';

/**
 * Power of two choices (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing",
 * 2001): draw two distinct available backends uniformly and keep the one with fewer in-flight
 * requests per unit of weight. Near least-connections balance without scanning the pool, and
 * without every worker herding onto the same "least loaded" backend, since each worker only
 * sees its own in-flight counts.
 *
 * The list of available backends is rebuilt on health and weight events. Those changes should
 * arrive through `setHealthy` / `setWeight`; one made behind the balancer's back is caught, by a
 * rebuild, when a drawn backend turns out unavailable or when nothing seems available.
 */
export class P2cBalancer extends CachedTableBalancer {
  readonly #backends: readonly Backend[];
  readonly #available: Backend[] = [];

  constructor(backends: readonly Backend[]) {
    super();
    this.#backends = backends;
    this.rebuild();
  }

  pick(_ctx: PickContext, exclude?: readonly Backend[]): Backend | undefined {
    if (exclude !== undefined && exclude.length > 0) return this.#pickExcluding(exclude);
    const candidates = this.#available;
    const count = candidates.length;
    if (count === 0) {
      // Recount in case health changed without `setHealthy`; costs a scan only while all are down.
      this.rebuild();
      if (candidates.length === 0) return undefined;
      return this.pick(_ctx);
    }
    const firstIndex = Math.floor(Math.random() * count);
    const first = candidates[firstIndex]!;
    let second = first;
    if (count > 1) {
      let secondIndex = Math.floor(Math.random() * (count - 1));
      if (secondIndex >= firstIndex) secondIndex++;
      second = candidates[secondIndex]!;
    }
    if (first.available && second.available) return this.lessLoaded(first, second);
    // Health or weight was changed without going through this balancer: resync, draw again.
    // After the rebuild every candidate is available, so this recurses once at most.
    this.rebuild();
    return this.pick(_ctx);
  }

  /** Retries are rare: the same draw over the available backends not yet tried, found by walking. */
  #pickExcluding(exclude: readonly Backend[]): Backend | undefined {
    const candidates = this.#available;
    let eligible = 0;
    for (let i = 0; i < candidates.length; i++) {
      if (isEligible(candidates[i]!, exclude)) eligible++;
    }
    if (eligible === 0) return undefined;
    const firstRank = Math.floor(Math.random() * eligible);
    let secondRank = eligible === 1 ? firstRank : Math.floor(Math.random() * (eligible - 1));
    if (eligible > 1 && secondRank >= firstRank) secondRank++;
    let first: Backend | undefined;
    let second: Backend | undefined;
    let rank = 0;
    for (let i = 0; i < candidates.length; i++) {
      const candidate = candidates[i]!;
      if (!isEligible(candidate, exclude)) continue;
      if (rank === firstRank) first = candidate;
      if (rank === secondRank) second = candidate;
      rank++;
    }
    return this.lessLoaded(first!, second!);
  }

  /**
   * Which of two drawn backends gets the request: the one with fewer in-flight requests per unit
   * of weight, compared by cross-multiplying; a tie keeps `a`, itself a random draw. Subclasses
   * change what "loaded" means (adaptive weighs in latency).
   */
  protected lessLoaded(a: Backend, b: Backend): Backend {
    return b.stats.inFlight * a.weight < a.stats.inFlight * b.weight ? b : a;
  }

  protected rebuild(): void {
    this.#available.length = 0;
    for (const backend of this.#backends) {
      if (backend.available) this.#available.push(backend);
    }
  }
}

/** `available` is re-read because the retry path must not trust the cached list. */
function isEligible(backend: Backend, exclude: readonly Backend[]): boolean {
  return backend.available && !exclude.includes(backend);
}
