/**
 * One rate limit policy in one worker: a token bucket per key (token-bucket.ts), each holding
 * this worker's share of the policy's global rate. The request path (`take`) is synchronous, does
 * no I/O, and allocates nothing beyond the key string (and a bucket for a key not seen before): a
 * Map lookup, a refill, a counter.
 *
 * Demand (requests seen per key, allowed or not) is collected for the primary, which answers with
 * shares proportional to each worker's demand (src/primary/rate-limit/). Keys the primary gave no
 * share use the default share: 1 / (workers × live instances).
 *
 * Memory is bounded: at most `maxKeys` buckets. Once a second, buckets that are full again and
 * unused (as good as new) are dropped, and the ones used since the previous sweep move to the end
 * of the Map's order; a new key beyond the bound evicts the first entry, so the least recently
 * active key goes first (an approximate LRU with no per-request bookkeeping).
 */
import type { RateLimitConfig } from '../../shared/config/schema.js';
import { MAX_COORDINATED_KEYS, SHARE_TTL_MS, type RateUsage } from '../../shared/rate-limit-report.js';
import { RateLimitKey } from './rate-limit-key.js';
import { TokenBucket, type BucketLimits } from './token-bucket.js';

export const DEFAULT_MAX_KEYS = 100_000;

/** A bucket unused for this long, and full, is dropped by the sweep. */
const IDLE_MS = 1000;

export class RateLimiter {
  readonly name: string;
  readonly key: RateLimitKey;
  readonly #limits: BucketLimits;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, TokenBucket>();
  /** Buckets with demand since the last report, each once. */
  #active: TokenBucket[] = [];
  #defaultShare: number;
  #sweptAt = 0;
  /** Header values, built once. */
  readonly #limitHeader: string;
  readonly #policyHeader: string;

  constructor(policy: RateLimitConfig, defaultShare: number, maxKeys = DEFAULT_MAX_KEYS) {
    if (!(defaultShare > 0 && defaultShare <= 1)) throw new RangeError(`rate limiter: defaultShare must be in (0, 1], got ${defaultShare}`);
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError(`rate limiter: maxKeys must be a positive integer, got ${maxKeys}`);
    this.name = policy.name;
    this.key = new RateLimitKey(policy.key);
    this.#limits = { ratePerMs: policy.rate / policy.per, burst: policy.burst };
    this.#maxKeys = maxKeys;
    this.#defaultShare = defaultShare;
    this.#limitHeader = String(policy.rate);
    // draft-ietf-httpapi-ratelimit-headers: quota;w=window-seconds, plus our own parameters.
    this.#policyHeader = `${policy.rate};w=${policy.per / 1000};burst=${policy.burst};policy="${policy.name}"`;
  }

  /** Buckets held now. */
  get size(): number {
    return this.#buckets.size;
  }

  get defaultShare(): number {
    return this.#defaultShare;
  }

  /** One request for `key` at `now` (performance.now()): true when it may pass. */
  take(key: string, now: number): boolean {
    const bucket = this.#buckets.get(key) ?? this.#add(key, this.#defaultShare, now);
    bucket.lastSeenAt = now;
    if (bucket.demand++ === 0) this.#active.push(bucket);
    return bucket.take(now);
  }

  /**
   * The headers of a 429 for `key`, right after `take` refused it: when this worker's bucket has a
   * token again (Retry-After, whole seconds, at least 1), the policy's rate (RateLimit-Limit), 0
   * remaining (the client was just refused here, whatever other workers hold), and when the
   * bucket is full again (RateLimit-Reset). A flat list, as writeHead takes it.
   */
  refusalHeaders(key: string, now: number): string[] {
    const bucket = this.#buckets.get(key) ?? this.#add(key, this.#defaultShare, now);
    bucket.refill(now);
    const retryAfter = Math.max(1, Math.ceil(bucket.msUntil(1) / 1000));
    const reset = Math.max(1, Math.ceil(bucket.msUntil(bucket.capacity) / 1000));
    return [
      'retry-after', String(retryAfter),
      'ratelimit-limit', this.#limitHeader,
      'ratelimit-remaining', '0',
      'ratelimit-reset', String(reset),
      'ratelimit-policy', this.#policyHeader,
    ];
  }

  /**
   * The primary's shares for this worker. A key not seen here yet gets its bucket now: the share
   * is what stops this worker from using the default share on top of what the others hold.
   */
  assign(keys: readonly string[], shares: readonly number[], now: number): void {
    for (let i = 0; i < keys.length; i++) {
      const share = shares[i]!;
      if (!(share > 0 && share <= 1)) continue;
      const key = keys[i]!;
      const bucket = this.#buckets.get(key) ?? this.#add(key, share, now);
      if (bucket.share !== share) bucket.setShare(share, this.#limits, now);
      bucket.assigned = true;
      bucket.assignedAt = now;
    }
  }

  /** The share of keys the primary gave none (changes when workers or instances come and go). */
  setDefaultShare(share: number, now: number): void {
    if (!(share > 0 && share <= 1) || share === this.#defaultShare) return;
    this.#defaultShare = share;
    for (const bucket of this.#buckets.values()) {
      if (!bucket.assigned) bucket.setShare(share, this.#limits, now);
    }
  }

  /** Demand since the last call, busiest keys first when there are more than MAX_COORDINATED_KEYS; undefined when none. */
  drainUsage(maxKeys = MAX_COORDINATED_KEYS): RateUsage | undefined {
    const active = this.#active;
    if (active.length === 0) return undefined;
    this.#active = [];
    if (active.length > maxKeys) active.sort((a, b) => b.demand - a.demand);
    const count = Math.min(maxKeys, active.length);
    const keys = new Array<string>(count);
    const demand = new Array<number>(count);
    for (let i = 0; i < active.length; i++) {
      const bucket = active[i]!;
      if (i < count) {
        keys[i] = bucket.key;
        demand[i] = bucket.demand;
      }
      bucket.demand = 0;
    }
    return { policy: this.name, keys, demand };
  }

  /**
   * Once a second: shares not renewed within SHARE_TTL_MS fall back to the default, buckets that
   * are full and unused are dropped, and recently used ones move to the end of the eviction order.
   */
  sweep(now: number): void {
    const since = this.#sweptAt;
    this.#sweptAt = now;
    let used: TokenBucket[] | undefined;
    for (const [key, bucket] of this.#buckets) {
      if (bucket.assigned && now - bucket.assignedAt > SHARE_TTL_MS) {
        bucket.assigned = false;
        bucket.setShare(this.#defaultShare, this.#limits, now);
      }
      if (bucket.lastSeenAt > since) (used ??= []).push(bucket);
      else if (!bucket.assigned && bucket.demand === 0 && now - bucket.lastSeenAt >= IDLE_MS && bucket.isFull(now)) this.#buckets.delete(key);
    }
    // Re-inserted after the loop: a Map visits entries added while it is being iterated.
    if (used !== undefined && used.length < this.#buckets.size) {
      for (const bucket of used) {
        this.#buckets.delete(bucket.key);
        this.#buckets.set(bucket.key, bucket);
      }
    }
  }

  #add(key: string, share: number, now: number): TokenBucket {
    if (this.#buckets.size >= this.#maxKeys) {
      const oldest = this.#buckets.keys().next();
      if (oldest.done !== true) this.#buckets.delete(oldest.value);
    }
    const bucket = new TokenBucket(key, share, this.#limits, now);
    this.#buckets.set(key, bucket);
    return bucket;
  }
}
