/**
 * The balancer contract, after HAProxy's `struct lb_ops`: a small table of event callbacks kept
 * up to date on events (start/end of a request, health, weight), never by scanning every backend
 * per request when the algorithm can avoid it.
 */
import type { Backend } from '../runtime/backend.js';

/** What a balancer may look at to choose. Built once per request by the proxy handler. */
export interface PickContext {
  /** Client address after trusted-proxy resolution. */
  clientAddress: string;
  /** Lower-cased request headers as node:http gives them. */
  headers: Record<string, string | string[] | undefined>;
  /** Request path without the query string. */
  path: string;
}

export interface Balancer {
  /**
   * Chooses an available backend, or undefined when none is. `exclude` lists backends already
   * tried for this request (retries go to a different backend); it is usually absent.
   */
  pick(ctx: PickContext, exclude?: readonly Backend[]): Backend | undefined;
  /**
   * A request was sent to `backend`. The proxy itself keeps `backend.stats.inFlight` (shared by
   * all algorithms); these hooks are for algorithm-specific bookkeeping and may be no-ops.
   */
  onStart(backend: Backend): void;
  /**
   * A request to `backend` finished (any outcome). `latencyMs` is how long the attempt took, from
   * dispatch to the end of the response or the failure (for a WebSocket, to the 101): what an
   * algorithm that learns from latency feeds on (adaptive); the others ignore it.
   */
  onEnd(backend: Backend, latencyMs: number): void;
  setHealthy(backend: Backend, healthy: boolean): void;
  setWeight(backend: Backend, weight: number): void;
}

/** Key source for `consistent_hash`: a request header, a cookie, or the path. */
export type HashKey = { kind: 'header'; name: string } | { kind: 'cookie'; name: string } | { kind: 'path' };

/** Peak-EWMA settings of `algorithm: adaptive` (the pool's `adaptive`), in milliseconds. */
export interface PeakEwmaOptions {
  /** τ: how fast a cost forgets; a sample `τ` old weighs 1/e of a fresh one. */
  decayMs: number;
  /** The cost a backend without history starts at (then decays like any cost). */
  defaultRttMs: number;
}

export interface BalancerOptions {
  /** Required by consistent_hash. */
  hashKey?: HashKey;
  /** For adaptive; absent: τ 10 s, default RTT 30 ms. */
  peakEwma?: PeakEwmaOptions;
}
