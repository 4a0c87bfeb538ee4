/**
 * Balancers: choosing a pool's backend for each request. One algorithm per file, each behind the
 * `Balancer` event table in balancer.ts; a pool builds its balancer once per runtime with
 * `createBalancer` and feeds it health and weight events.
 *
 * Adding an algorithm: its file here, its name in src/shared/config/algorithms.ts (which the
 * config schema validates against), and its entry in BALANCERS, which does not compile without it.
 */
import { AdaptiveBalancer } from './adaptive.js';
import { BALANCER_ALGORITHMS, type BalancerAlgorithm } from '../../shared/config/algorithms.js';
import type { Backend } from '../runtime/backend.js';
import type { Balancer, BalancerOptions } from './balancer.js';
import { ConsistentHashBalancer } from './consistent-hash.js';
import { IpHashBalancer } from './ip-hash.js';
import { LeastConnBalancer } from './least-conn.js';
import { P2cBalancer } from './p2c.js';
import { RandomBalancer } from './random.js';
import { RoundRobinBalancer } from './round-robin.js';

export type { Balancer, BalancerOptions, HashKey, PeakEwmaOptions, PickContext } from './balancer.js';
export { BALANCER_ALGORITHMS, type BalancerAlgorithm };

type BalancerFactory = (backends: readonly Backend[], options: BalancerOptions) => Balancer;

/** One factory per algorithm name: a name without an entry (or an entry without a name) is a type error. */
const BALANCERS: Readonly<Record<BalancerAlgorithm, BalancerFactory>> = {
  round_robin: (backends) => new RoundRobinBalancer(backends),
  least_conn: (backends) => new LeastConnBalancer(backends),
  random: (backends) => new RandomBalancer(backends),
  p2c: (backends) => new P2cBalancer(backends),
  ip_hash: (backends) => new IpHashBalancer(backends),
  consistent_hash: (backends, options) => new ConsistentHashBalancer(backends, options),
  adaptive: (backends, options) => new AdaptiveBalancer(backends, options.peakEwma),
};

export function createBalancer(algorithm: BalancerAlgorithm, backends: readonly Backend[], options: BalancerOptions): Balancer {
  // Config is validated upstream; this guards callers that bypass the types (and inherited keys).
  if (!Object.hasOwn(BALANCERS, algorithm)) throw new TypeError(`unknown balancing algorithm "${String(algorithm)}"`);
  return BALANCERS[algorithm](backends, options);
}
