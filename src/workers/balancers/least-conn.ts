import type { Backend } from '../runtime/backend.js';
import { assertIndexesMatchPositions, assertValidWeight } from './backend-assertions.js';
import type { Balancer, PickContext } from './balancer.js';

/**
 * Weighted least connections, as nginx's `ngx_http_upstream_get_least_conn_peer`
 * (src/http/ngx_http_upstream_least_conn_module.c): the backend with the fewest in-flight requests
 * per unit of weight wins. Ratios are compared by cross-multiplying (`a.inFlight * b.weight <
 * b.inFlight * a.weight`), so there is no division and no floating-point drift.
 *
 * Ties, including the common idle case where every backend is at zero, are broken by smooth
 * weighted round robin among the tied backends (again as nginx), so equal backends share load and
 * weights still count when nothing is in flight.
 *
 * In-flight counts change on every request, so each pick scans the pool, as nginx does; pools are
 * small and the scan allocates nothing.
 */
export class LeastConnBalancer implements Balancer {
  readonly #backends: readonly Backend[];
  /** Smooth round-robin `current_weight` for tie-breaking, indexed by `backend.index`. */
  readonly #currentWeights: Float64Array;

  constructor(backends: readonly Backend[]) {
    assertIndexesMatchPositions(backends, 'least_conn');
    this.#backends = backends;
    this.#currentWeights = new Float64Array(backends.length);
  }

  pick(_ctx: PickContext, exclude?: readonly Backend[]): Backend | undefined {
    const backends = this.#backends;
    let best: Backend | undefined;
    let firstBest = -1;
    let tied = false;
    for (let i = 0; i < backends.length; i++) {
      const backend = backends[i]!;
      if (!backend.available || (exclude !== undefined && exclude.includes(backend))) continue;
      if (best === undefined || backend.stats.inFlight * best.weight < best.stats.inFlight * backend.weight) {
        best = backend;
        firstBest = i;
        tied = false;
      } else if (backend.stats.inFlight * best.weight === best.stats.inFlight * backend.weight) {
        tied = true;
      }
    }
    if (best === undefined || !tied) return best;
    return this.#pickAmongTied(best, firstBest, exclude);
  }

  /** Smooth weighted round robin over the backends whose load ratio equals `least`'s. */
  #pickAmongTied(least: Backend, firstTied: number, exclude: readonly Backend[] | undefined): Backend {
    const backends = this.#backends;
    const currentWeights = this.#currentWeights;
    let chosen = firstTied;
    let total = 0;
    for (let i = firstTied; i < backends.length; i++) {
      const backend = backends[i]!;
      if (!backend.available || (exclude !== undefined && exclude.includes(backend))) continue;
      if (backend.stats.inFlight * least.weight !== least.stats.inFlight * backend.weight) continue;
      currentWeights[i] += backend.weight;
      total += backend.weight;
      if (currentWeights[i]! > currentWeights[chosen]!) chosen = i;
    }
    currentWeights[chosen] -= total;
    return backends[chosen]!;
  }

  onStart(_backend: Backend): void {}

  onEnd(_backend: Backend, _latencyMs: number): void {}

  setHealthy(backend: Backend, healthy: boolean): void {
    backend.healthy = healthy;
  }

  setWeight(backend: Backend, weight: number): void {
    assertValidWeight(backend, weight);
    backend.weight = weight;
    this.#currentWeights.fill(0);
  }
}
