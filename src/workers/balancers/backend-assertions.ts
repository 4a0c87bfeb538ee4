import type { Backend } from '../runtime/backend.js';

/**
 * Balancers that keep per-backend tables index them with `backend.index`, which the pool sets to
 * the backend's position in its list. A mismatch would silently credit the wrong backend, so it
 * is rejected when the balancer is built (config time), not discovered under load.
 */
export function assertIndexesMatchPositions(backends: readonly Backend[], algorithm: string): void {
  for (let position = 0; position < backends.length; position++) {
    const backend = backends[position]!;
    if (backend.index !== position) {
      throw new RangeError(
        `${algorithm}: backend "${backend.id}" has index ${backend.index} but is at position ${position} of the pool`,
      );
    }
  }
}

/** Weights come from validated config or the admin API; a bad one here is a programming error. */
export function assertValidWeight(backend: Backend, weight: number): void {
  if (!Number.isFinite(weight) || weight < 0) {
    throw new RangeError(`backend "${backend.id}": weight must be a finite number >= 0, got ${weight}`);
  }
}
