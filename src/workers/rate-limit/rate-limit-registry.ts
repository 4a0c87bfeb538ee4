/**
 * The worker's rate limiters, kept across config swaps by policy name and parameters (as
 * backend-registry.ts keeps upstream pools): a reload that leaves a policy as it was keeps its
 * buckets, so a reload never hands every client a fresh burst. It also owns the worker's one
 * rate-limit timer: every RATE_LIMIT_TICK_MS it reports demand to the primary, and once a second
 * it sweeps idle buckets. Nothing here runs per request.
 */
import type { RateLimitConfig } from '../../shared/config/schema.js';
import { RATE_LIMIT_TICK_MS, type RateShares, type RateUsage } from '../../shared/rate-limit-report.js';
import { RateLimiter } from './rate-limiter.js';

const TICKS_PER_SWEEP = Math.round(1000 / RATE_LIMIT_TICK_MS);

/** Everything that changes a limiter's behaviour; a change gives the policy fresh buckets. */
function identityOf(policy: RateLimitConfig): string {
  return `${policy.name} ${policy.key} ${policy.rate} ${policy.per} ${policy.burst}`;
}

export class RateLimitRegistry {
  readonly #byIdentity = new Map<string, RateLimiter>();
  /** The serving runtime's limiters by policy name: where the primary's shares go. */
  #byName = new Map<string, RateLimiter>();
  /** Until the primary says otherwise: 1 / this instance's configured workers. */
  #defaultShare = 1;
  #timer: NodeJS.Timeout | undefined;
  #ticks = 0;

  /** The limiter for `policy`, created when new. Nothing is dropped here: a runtime may be built and then discarded. */
  limiterFor(policy: RateLimitConfig): RateLimiter {
    const identity = identityOf(policy);
    let limiter = this.#byIdentity.get(identity);
    if (limiter === undefined) {
      limiter = new RateLimiter(policy, this.#defaultShare);
      this.#byIdentity.set(identity, limiter);
    }
    return limiter;
  }

  /** Called when a runtime is swapped in: forgets the limiters of policies it no longer has. */
  retain(policies: readonly RateLimitConfig[]): void {
    const live = new Map(policies.map((p) => [identityOf(p), p.name]));
    const byName = new Map<string, RateLimiter>();
    for (const [identity, limiter] of this.#byIdentity) {
      if (live.has(identity)) byName.set(limiter.name, limiter);
      else this.#byIdentity.delete(identity);
    }
    this.#byName = byName;
  }

  /** A `rate-shares` message from the primary. */
  applyShares(defaultShare: number, policies: readonly RateShares[], now = performance.now()): void {
    if (defaultShare > 0 && defaultShare <= 1 && defaultShare !== this.#defaultShare) {
      this.#defaultShare = defaultShare;
      for (const limiter of this.#byIdentity.values()) limiter.setDefaultShare(defaultShare, now);
    }
    for (const shares of policies) this.#byName.get(shares.policy)?.assign(shares.keys, shares.shares, now);
  }

  /** Demand of every serving limiter since the last call (empty when there was none). */
  collectUsage(): RateUsage[] {
    const usage: RateUsage[] = [];
    for (const limiter of this.#byName.values()) {
      const report = limiter.drainUsage();
      if (report !== undefined) usage.push(report);
    }
    return usage;
  }

  /**
   * Starts the timer. `workers` is this instance's configured worker count: the default share
   * until the primary's first message (it knows the workers actually serving, and other instances).
   */
  start(workers: number, send: (usage: RateUsage[]) => void): void {
    if (this.#timer !== undefined) return;
    this.applyShares(1 / Math.max(1, workers), []);
    this.#timer = setInterval(() => this.#tick(send), RATE_LIMIT_TICK_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(send: (usage: RateUsage[]) => void): void {
    const usage = this.collectUsage();
    if (usage.length > 0) send(usage);
    if (++this.#ticks % TICKS_PER_SWEEP === 0) {
      const now = performance.now();
      for (const limiter of this.#byIdentity.values()) limiter.sweep(now);
    }
  }
}
