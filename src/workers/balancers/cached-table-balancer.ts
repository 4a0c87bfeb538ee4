import type { Backend } from '../runtime/backend.js';
import { assertValidWeight } from './backend-assertions.js';
import type { Balancer, PickContext } from './balancer.js';

/**
 * What random and p2c share: a table of available backends derived from health and weight, built
 * again on every health or weight event (never per pick). Subclasses say what the table is.
 */
export abstract class CachedTableBalancer implements Balancer {
  abstract pick(ctx: PickContext, exclude?: readonly Backend[]): Backend | undefined;

  /** Rebuilds the table from the backends' current health and weights. */
  protected abstract rebuild(): void;

  onStart(_backend: Backend): void {}

  onEnd(_backend: Backend, _latencyMs: number): void {}

  setHealthy(backend: Backend, healthy: boolean): void {
    backend.healthy = healthy;
    this.rebuild();
  }

  setWeight(backend: Backend, weight: number): void {
    assertValidWeight(backend, weight);
    backend.weight = weight;
    this.rebuild();
  }
}
