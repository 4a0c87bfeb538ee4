/**
 * The balancing algorithms a pool may name (`pools[].algorithm`): the one list both sides read.
 * The config schema validates against it; the workers' factory (src/workers/balancers/index.ts)
 * is a map keyed by it, so a name added here without a balancer does not compile.
 */
export const BALANCER_ALGORITHMS = ['round_robin', 'least_conn', 'random', 'p2c', 'ip_hash', 'consistent_hash', 'adaptive'] as const;
export type BalancerAlgorithm = (typeof BALANCER_ALGORITHMS)[number];
