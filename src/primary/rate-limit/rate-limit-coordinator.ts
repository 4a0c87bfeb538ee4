/**
 * Holds each rate limit globally while every worker decides locally ("demand-proportional shares
 * of one global bucket"). Workers report how many requests they saw per key (`rate-usage`, every
 * RATE_LIMIT_TICK_MS); every tick this keeps a smoothed demand per (policy, key, worker), asks the
 * DemandExchange for this instance's part of each key across instances, and sends each worker its
 * share (`rate-shares`):
 *
 *   share(worker, key) = instanceShare(key) × (d_worker + ε) / Σ over this instance's workers (d + ε)
 *
 * Shares add up to one per key, so the workers' buckets together refill at the configured rate
 * and hold at most the configured burst. Keys a worker got no share for use the default share,
 * 1 / (workers × instances). A key no worker reported for SHARE_TTL_MS is dropped here, and the
 * workers' copies of its shares expire after the same time: the key is back on the default.
 */
import type { Logger } from '../../shared/log.js';
import { primaryMessage, type PrimaryMessage } from '../../shared/ipc.js';
import { MAX_COORDINATED_KEYS, RATE_LIMIT_TICK_MS, SHARE_TTL_MS, type RateShares, type RateUsage } from '../../shared/rate-limit-report.js';
import type { DemandExchange, KeyDemand } from './demand-exchange.js';
import { demandShares } from './demand-shares.js';

/** Weight of the newest tick in the smoothed demand: a few ticks to follow a shift, little jitter. */
const SMOOTHING = 0.3;
/** Keys tracked per policy; reports of further keys are ignored (they keep the default share). */
const MAX_TRACKED_KEYS = 5 * MAX_COORDINATED_KEYS;

interface WorkerDemand {
  /** Requests reported since the last tick. */
  pending: number;
  /** Requests per tick, exponentially smoothed. */
  smoothed: number;
  reportedAt: number;
}

interface KeyState {
  readonly key: string;
  readonly workers: Map<number, WorkerDemand>;
  /** Σ smoothed over workers, as of the last tick. */
  total: number;
}

export interface RateLimitCoordinatorOptions {
  readonly exchange: DemandExchange;
  /** Sends to one worker (Supervisor.sendTo). */
  readonly send: (workerId: number, message: PrimaryMessage) => void;
  /** This instance's serving workers (Supervisor.servingWorkerIds). */
  readonly workerIds: () => readonly number[];
  readonly log?: Logger;
}

export class RateLimitCoordinator {
  readonly #exchange: DemandExchange;
  readonly #send: RateLimitCoordinatorOptions['send'];
  readonly #workerIds: RateLimitCoordinatorOptions['workerIds'];
  readonly #log: Logger | undefined;
  /** policy -> key -> demand per worker. */
  readonly #policies = new Map<string, Map<string, KeyState>>();
  /** The default share each worker was last told, so an idle cluster sends nothing. */
  readonly #sentDefault = new Map<number, number>();
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;

  constructor(options: RateLimitCoordinatorOptions) {
    this.#exchange = options.exchange;
    this.#send = options.send;
    this.#workerIds = options.workerIds;
    this.#log = options.log;
  }

  /** A worker's `rate-usage` message. */
  report(workerId: number, usage: readonly RateUsage[], now = performance.now()): void {
    for (const { policy, keys, demand } of usage) {
      let byKey = this.#policies.get(policy);
      if (byKey === undefined) this.#policies.set(policy, (byKey = new Map()));
      for (let i = 0; i < keys.length; i++) {
        const count = demand[i]!;
        if (!(count > 0)) continue;
        let state = byKey.get(keys[i]!);
        if (state === undefined) {
          if (byKey.size >= MAX_TRACKED_KEYS) continue;
          state = { key: keys[i]!, workers: new Map(), total: 0 };
          byKey.set(state.key, state);
        }
        const entry = state.workers.get(workerId);
        if (entry === undefined) state.workers.set(workerId, { pending: count, smoothed: 0, reportedAt: now });
        else {
          entry.pending += count;
          entry.reportedAt = now;
        }
      }
    }
  }

  /**
   * One round: smooth, expire, exchange with the other instances, send shares. Rounds never
   * overlap: while the exchange is slow (Redis), ticks are skipped and workers keep their shares.
   */
  async tick(now = performance.now()): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      const selected = this.#smooth(now);
      const demands: KeyDemand[] = [];
      for (const [policy, states] of selected) {
        for (const state of states) demands.push({ policy, key: state.key, demand: (state.total * 1000) / RATE_LIMIT_TICK_MS });
      }
      const { shares: instanceShares, instances } = await this.#exchange.exchange(demands);
      this.#distribute(selected, instanceShares, instances);
    } catch (err) {
      this.#log?.error({ err }, 'rate limit coordination round failed; workers keep their shares until they expire');
    } finally {
      this.#ticking = false;
    }
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.tick(), RATE_LIMIT_TICK_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#exchange.close();
  }

  /** Advances every smoothed demand by one tick, drops what expired, and picks the keys to coordinate per policy. */
  #smooth(now: number): Map<string, KeyState[]> {
    const selected = new Map<string, KeyState[]>();
    for (const [policy, byKey] of this.#policies) {
      const states: KeyState[] = [];
      for (const [key, state] of byKey) {
        let total = 0;
        for (const [workerId, entry] of state.workers) {
          entry.smoothed += SMOOTHING * (entry.pending - entry.smoothed);
          entry.pending = 0;
          if (now - entry.reportedAt > SHARE_TTL_MS) state.workers.delete(workerId);
          else total += entry.smoothed;
        }
        state.total = total;
        if (state.workers.size === 0) byKey.delete(key);
        else states.push(state);
      }
      if (byKey.size === 0) {
        this.#policies.delete(policy);
        continue;
      }
      if (states.length > MAX_COORDINATED_KEYS) {
        states.sort((a, b) => b.total - a.total);
        states.length = MAX_COORDINATED_KEYS;
      }
      selected.set(policy, states);
    }
    return selected;
  }

  #distribute(selected: Map<string, KeyState[]>, instanceShares: readonly number[], instances: number): void {
    const workerIds = this.#workerIds();
    const n = workerIds.length;
    if (n === 0) return;
    const defaultShare = 1 / (n * Math.max(1, instances));
    const perWorker = workerIds.map(() => [] as RateShares[]);
    const demands = new Array<number>(n);
    let next = 0;
    for (const [policy, states] of selected) {
      const lists = perWorker.map((list) => {
        const shares: RateShares = { policy, keys: [], shares: [] };
        list.push(shares);
        return shares;
      });
      for (const state of states) {
        const instanceShare = instanceShares[next++] ?? 1 / Math.max(1, instances);
        for (let w = 0; w < n; w++) demands[w] = state.workers.get(workerIds[w]!)?.smoothed ?? 0;
        const shares = demandShares(demands, instanceShare);
        for (let w = 0; w < n; w++) {
          lists[w]!.keys.push(state.key);
          lists[w]!.shares.push(shares[w]!);
        }
      }
    }
    for (let w = 0; w < n; w++) {
      const workerId = workerIds[w]!;
      const policies = perWorker[w]!;
      if (policies.length === 0 && this.#sentDefault.get(workerId) === defaultShare) continue;
      this.#sentDefault.set(workerId, defaultShare);
      this.#send(workerId, primaryMessage({ type: 'rate-shares', defaultShare, policies }));
    }
    // Workers that are gone.
    if (this.#sentDefault.size > n) {
      const live = new Set(workerIds);
      for (const id of this.#sentDefault.keys()) if (!live.has(id)) this.#sentDefault.delete(id);
    }
  }
}
