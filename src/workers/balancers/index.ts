/**
 * Balancers: choosing a pool's backend for each request. One algorithm per file, each behind the
 * `Balancer` event table in balancer.ts; a pool builds its balancer once per runtime with
 * `createBalancer` and feeds it health and weight events.
 */
import type { Backend } from '../runtime/backend.js';
import type { Balancer, BalancerOptions } from './balancer.js';
import { ConsistentHashBalancer } from './consistent-hash.js';
import { IpHashBalancer } from './ip-hash.js';
import { LeastConnBalancer } from './least-conn.js';
import { P2cBalancer } from './p2c.js';
import { RandomBalancer } from './random.js';
import { RoundRobinBalancer } from './round-robin.js';

export type { Balancer, BalancerOptions, HashKey, PickContext } from './balancer.js';

export const BALANCER_ALGORITHMS = ['round_robin', 'least_conn', 'random', 'p2c', 'ip_hash', 'consistent_hash'] as const;
export type BalancerAlgorithm = (typeof BALANCER_ALGORITHMS)[number];

export function createBalancer(
  algorithm: BalancerAlgorithm,
  backends: readonly Backend[],
  options: BalancerOptions,
): Balancer {
  switch (algorithm) {
    case 'round_robin':
      return new RoundRobinBalancer(backends);
    case 'least_conn':
      return new LeastConnBalancer(backends);
    case 'random':
      return new RandomBalancer(backends);
    case 'p2c':
      return new P2cBalancer(backends);
    case 'ip_hash':
      return new IpHashBalancer(backends);
    case 'consistent_hash':
      return new ConsistentHashBalancer(backends, options);
    default: {
      // Config is validated upstream; this guards callers that bypass the types.
      const unknown: never = algorithm;
      throw new TypeError(`unknown balancing algorithm "${String(unknown)}"`);
    }
  }
}
