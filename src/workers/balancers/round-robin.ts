import type { Backend } from '../runtime/backend.js';
import { assertIndexesMatchPositions, assertValidWeight } from './backend-assertions.js';
import type { Balancer, PickContext } from './balancer.js';

/**
 * Smooth weighted round robin, as nginx's `ngx_http_upstream_get_peer`
 * (src/http/ngx_http_upstream_round_robin.c): every pick adds each candidate's weight to its
 * current weight, takes the largest, and subtracts the candidates' total from the winner. Weights
 * {5,1,1} give a,a,b,a,c,a,a: heavy backends are interleaved, never sent a burst in a row.
 *
 * nginx also keeps an `effective_weight` lowered on upstream failures; VeloFlux leaves failures to
 * the health checker and outlier detection (which call `setHealthy`), so the effective weight here
 * is the configured one.
 */
export class RoundRobinBalancer implements Balancer {
  readonly #backends: readonly Backend[];
  /** nginx's `current_weight`, indexed by `backend.index`. */
  readonly #currentWeights: Float64Array;

  constructor(backends: readonly Backend[]) {
    assertIndexesMatchPositions(backends, 'round_robin');
    this.#backends = backends;
    this.#currentWeights = new Float64Array(backends.length);
  }

  pick(_ctx: PickContext, exclude?: readonly Backend[]): Backend | undefined {
    const backends = this.#backends;
    const currentWeights = this.#currentWeights;
    let best = -1;
    let total = 0;
    for (let i = 0; i < backends.length; i++) {
      const backend = backends[i]!;
      if (!backend.available || (exclude !== undefined && exclude.includes(backend))) continue;
      currentWeights[i] += backend.weight;
      total += backend.weight;
      if (best === -1 || currentWeights[i]! > currentWeights[best]!) best = i;
    }
    if (best === -1) return undefined;
    currentWeights[best] -= total;
    return backends[best];
  }

  onStart(_backend: Backend): void {}

  onEnd(_backend: Backend, _latencyMs: number): void {}

  /** Like nginx, a backend that is down keeps its current weight and is merely skipped. */
  setHealthy(backend: Backend, healthy: boolean): void {
    backend.healthy = healthy;
  }

  /** Restarts the smooth sequence so credit earned under the old weights does not cause a burst. */
  setWeight(backend: Backend, weight: number): void {
    assertValidWeight(backend, weight);
    backend.weight = weight;
    this.#currentWeights.fill(0);
  }
}
