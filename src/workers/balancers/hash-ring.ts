import type { Backend } from '../runtime/backend.js';
import { assertValidWeight } from './backend-assertions.js';
import { murmur3String } from './string-hash.js';

/**
 * Virtual nodes per unit of weight. 160 is ketama's figure (libketama, used by memcached
 * clients and nginx's `hash ... consistent`): enough points that each backend's share of the ring
 * stays within a few percent of its weight.
 */
const POINTS_PER_UNIT_WEIGHT = 160;
/**
 * Bounds memory (8 bytes a point) and rebuild time for very large pools or weights. Past it every
 * backend's point count is scaled down alike, so shares stay proportional; only then does a weight
 * change elsewhere in the pool move some keys between unrelated backends.
 */
const MAX_RING_POINTS = 1 << 18;
/** Sort keys pack `hash * POSITION_SPACE + position` into one double (2^32 * 2^21 = 2^53, exact). */
const POSITION_SPACE = 2 ** 21;

/**
 * A consistent hash ring with virtual nodes (Karger et al., 1997). Each backend owns points at
 * `hash("<id>#<n>")`; a key belongs to the first point at or clockwise after its hash.
 *
 * Points depend only on a backend's id and weight, never on the rest of the pool, so:
 * - an unhealthy backend keeps its points and is skipped during the walk: only its keys move, to
 *   the next backend clockwise, and come back when it recovers;
 * - removing a backend from the pool moves only its keys (about 1/n of them);
 * - a weight change rebuilds the ring, adding or removing that backend's points only.
 *
 * Health is read live from each backend during the walk; weight changes must arrive through
 * `setWeight`, which rebuilds the ring.
 */
export class HashRing {
  readonly #backends: readonly Backend[];
  /** Point positions on the ring, ascending. */
  #pointHashes = new Uint32Array(0);
  /** `#pointOwners[k]` is the position in `#backends` of the backend owning point k. */
  #pointOwners = new Int32Array(0);
  /** Lets a pool with nothing available answer at once instead of walking every point. */
  #availableCount = 0;

  constructor(backends: readonly Backend[]) {
    if (backends.length > POSITION_SPACE) {
      throw new RangeError(`hash ring: at most ${POSITION_SPACE} backends, got ${backends.length}`);
    }
    this.#backends = backends;
    this.#rebuild();
  }

  /** Number of virtual nodes on the ring. */
  get size(): number {
    return this.#pointHashes.length;
  }

  /** The backend owning `hash`, walking clockwise past unavailable and excluded backends. */
  lookup(hash: number, exclude?: readonly Backend[]): Backend | undefined {
    if (this.#availableCount === 0) {
      // Recount in case health changed without `setHealthy`; costs a scan only while all are down.
      this.#countAvailable();
      if (this.#availableCount === 0) return undefined;
    }
    const hashes = this.#pointHashes;
    const owners = this.#pointOwners;
    const backends = this.#backends;
    const pointCount = hashes.length;
    let low = 0;
    let high = pointCount;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (hashes[middle]! < hash) low = middle + 1;
      else high = middle;
    }
    let point = low === pointCount ? 0 : low;
    for (let step = 0; step < pointCount; step++) {
      const backend = backends[owners[point]!]!;
      if (backend.available && (exclude === undefined || !exclude.includes(backend))) return backend;
      if (++point === pointCount) point = 0;
    }
    return undefined;
  }

  setHealthy(backend: Backend, healthy: boolean): void {
    backend.healthy = healthy;
    this.#countAvailable();
  }

  setWeight(backend: Backend, weight: number): void {
    assertValidWeight(backend, weight);
    const changed = backend.weight !== weight;
    backend.weight = weight;
    if (changed) this.#rebuild();
    else this.#countAvailable();
  }

  #countAvailable(): void {
    let count = 0;
    for (const backend of this.#backends) if (backend.available) count++;
    this.#availableCount = count;
  }

  #rebuild(): void {
    const backends = this.#backends;
    let totalWeight = 0;
    for (const backend of backends) if (backend.weight > 0) totalWeight += backend.weight;
    // Reserving one point per backend keeps the total within the cap despite rounding up and
    // the one-point minimum.
    const pointsPerWeight =
      totalWeight > 0 ? Math.min(POINTS_PER_UNIT_WEIGHT, (MAX_RING_POINTS - backends.length) / totalWeight) : 0;

    let pointCount = 0;
    for (const backend of backends) pointCount += pointsFor(backend, pointsPerWeight);
    // Sorting one Float64Array natively is far faster than sorting indices with a comparator.
    const sortKeys = new Float64Array(pointCount);
    let next = 0;
    for (let position = 0; position < backends.length; position++) {
      const backend = backends[position]!;
      const points = pointsFor(backend, pointsPerWeight);
      for (let virtualNode = 0; virtualNode < points; virtualNode++) {
        sortKeys[next++] = murmur3String(`${backend.id}#${virtualNode}`) * POSITION_SPACE + position;
      }
    }
    sortKeys.sort();

    const hashes = new Uint32Array(pointCount);
    const owners = new Int32Array(pointCount);
    for (let point = 0; point < pointCount; point++) {
      const key = sortKeys[point]!;
      hashes[point] = Math.floor(key / POSITION_SPACE);
      owners[point] = key % POSITION_SPACE;
    }
    // Two backends hashing to the same point are ordered by id, not by list position, so the ring
    // is the same whichever order the pool lists its backends in.
    for (let point = 1; point < pointCount; point++) {
      for (let k = point; k > 0 && hashes[k] === hashes[k - 1]; k--) {
        const previousOwner = owners[k - 1]!;
        if (backends[owners[k]!]!.id >= backends[previousOwner]!.id) break;
        owners[k - 1] = owners[k]!;
        owners[k] = previousOwner;
      }
    }
    this.#pointHashes = hashes;
    this.#pointOwners = owners;
    this.#countAvailable();
  }
}

/** A backend with any positive weight gets at least one point, so it can be reached. */
function pointsFor(backend: Backend, pointsPerWeight: number): number {
  return backend.weight > 0 ? Math.max(1, Math.round(backend.weight * pointsPerWeight)) : 0;
}
