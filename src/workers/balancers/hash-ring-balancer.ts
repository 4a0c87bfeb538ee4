import type { Backend } from '../runtime/backend.js';
import type { Balancer, PickContext } from './balancer.js';
import { HashRing } from './hash-ring.js';

/**
 * What ip_hash and consistent_hash share: a consistent hash ring that skips unavailable backends
 * (so only their keys move) and rebuilds on weight changes. Subclasses say what to hash.
 */
export abstract class HashRingBalancer implements Balancer {
  readonly #ring: HashRing;

  constructor(backends: readonly Backend[]) {
    this.#ring = new HashRing(backends);
  }

  /** The 32-bit hash of the request attribute this balancer keys on. */
  protected abstract keyHash(ctx: PickContext): number;

  pick(ctx: PickContext, exclude?: readonly Backend[]): Backend | undefined {
    return this.#ring.lookup(this.keyHash(ctx), exclude);
  }

  onStart(_backend: Backend): void {}

  onEnd(_backend: Backend, _latencyMs: number): void {}

  setHealthy(backend: Backend, healthy: boolean): void {
    this.#ring.setHealthy(backend, healthy);
  }

  setWeight(backend: Backend, weight: number): void {
    this.#ring.setWeight(backend, weight);
  }
}
