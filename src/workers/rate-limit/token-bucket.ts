/**
 * One key's token bucket in one worker: this worker's slice of the policy's global bucket. It
 * refills at `rate × share` and holds at most `burst × share` tokens, so the slices of every
 * worker (on every instance) add up to the configured rate and burst while the shares add up to
 * one. Never less than one token of capacity: a worker with a tiny share can still serve the
 * request that makes its demand, and so its share, visible to the coordinator.
 */

/** A policy's global numbers, in the units the bucket computes with. */
export interface BucketLimits {
  /** Tokens per millisecond for the whole cluster. */
  readonly ratePerMs: number;
  readonly burst: number;
}

/** Shares are never 0, so a refill rate is never 0 and waits are finite. */
const MIN_SHARE = 1e-6;
const TOKEN_EPSILON = 1e-9;

export class TokenBucket {
  readonly key: string;
  tokens = 0;
  share = 0;
  /** Requests seen since the last usage report, allowed or refused. */
  demand = 0;
  /** performance.now() of the last request for this key. */
  lastSeenAt: number;
  /** Whether `share` came from the coordinator (else it is the default share), and when. */
  assigned = false;
  assignedAt = 0;
  #capacity = 1;
  #ratePerMs = 0;
  #refilledAt: number;

  /** Starts full: a key never seen before has not used any of its burst. */
  constructor(key: string, share: number, limits: BucketLimits, now: number) {
    this.key = key;
    this.lastSeenAt = now;
    this.#refilledAt = now;
    this.setShare(share, limits, now);
    this.tokens = this.#capacity;
  }

  get capacity(): number {
    return this.#capacity;
  }

  /**
   * Tokens earned so far at the old rate are kept, clamped to the new capacity: a worker whose
   * share shrinks gives up the burst it no longer owns, one whose share grows earns faster.
   */
  setShare(share: number, limits: BucketLimits, now: number): void {
    this.refill(now);
    this.share = Math.max(MIN_SHARE, share);
    this.#ratePerMs = limits.ratePerMs * this.share;
    this.#capacity = Math.max(1, limits.burst * this.share);
    if (this.tokens > this.#capacity) this.tokens = this.#capacity;
  }

  refill(now: number): void {
    const elapsed = now - this.#refilledAt;
    if (elapsed <= 0) return;
    this.#refilledAt = now;
    const tokens = this.tokens + elapsed * this.#ratePerMs;
    this.tokens = tokens > this.#capacity ? this.#capacity : tokens;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    this.refill(now);
    // Sums of small float increments land a hair below whole numbers (0.09 × 1000 ≈ 89.99999).
    if (this.tokens < 1 - TOKEN_EPSILON) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until the bucket holds `tokens` (as of its last refill). */
  msUntil(tokens: number): number {
    return Math.max(0, (Math.min(tokens, this.#capacity) - this.tokens) / this.#ratePerMs);
  }

  isFull(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.#capacity;
  }
}
