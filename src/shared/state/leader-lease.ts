/**
 * One leader at a time among the instances sharing a Redis, for singleton jobs (model training,
 * usage roll-ups, billing runs). The lease is a key holding `<nodeId>:<random>` with a TTL; its
 * holder renews it, everyone else tries to take it every `renewEveryMs`.
 *
 * Safety: the leader counts its lease from the moment it *sent* the last successful acquire or
 * renew (the server's TTL started later than that), on the monotonic clock, and steps down
 * locally `safetyMarginMs` before that lease could expire on the server. So while timers run on
 * time, two instances never both believe they lead. A paused process (GC, a stopped VM) can
 * still act late: work that must never overlap also checks `fencingToken` downstream, which
 * strictly increases with every new leader (Kleppmann, "How to do distributed locking").
 *
 * Layout, under `keyPrefix` (one hash tag per lease so the script's keys share a cluster slot):
 *   {lease:<name>}:holder   "<nodeId>:<random>", PX ttl
 *   {lease:<name>}:epoch    the last fencing token (INCR)
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { VelofluxError } from '../errors.js';
import { escapeKeyPart } from './key-escape.js';
import { stateUnavailable, type RedisConnection } from './redis-connection.js';

/**
 * KEYS: holder, epoch. ARGV: token, ttl ms. Returns the new fencing token, or 0 when someone holds
 * the lease. A missing epoch (first use, or a Redis that lost its data) starts from the server's
 * clock in ms rather than 0, so tokens keep increasing across such a loss.
 */
const ACQUIRE_SCRIPT = `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local time = redis.call('TIME')
  redis.call('SET', KEYS[2], tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000))
end
return redis.call('INCR', KEYS[2])
`;

/** KEYS: holder. ARGV: token, ttl ms. 1 when the lease is still ours and was extended. */
const RENEW_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
`;

/** KEYS: holder. ARGV: token. Deletes the lease only if it is still ours. */
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`;

interface LeaseScripts {
  veloLeaseAcquire(holder: string, epoch: string, token: string, ttlMs: number): Promise<number>;
  veloLeaseRenew(holder: string, token: string, ttlMs: number): Promise<number>;
  veloLeaseRelease(holder: string, token: string): Promise<number>;
}

export interface LeaderLeaseOptions {
  readonly keyPrefix: string;
  /** What the lease is for (`training`, `billing`...): one leader per name. */
  readonly name: string;
  readonly nodeId: string;
  readonly ttlMs?: number;
  readonly renewEveryMs?: number;
  /** How long before the server-side expiry the leader steps down; default ttl / 5. */
  readonly safetyMarginMs?: number;
  /** Told when an onChange listener throws. */
  readonly log?: (message: string, error?: unknown) => void;
}

export class LeaderLease {
  readonly #scripts: LeaseScripts;
  readonly #connection: RedisConnection;
  readonly #holderKey: string;
  readonly #epochKey: string;
  readonly #nodeId: string;
  readonly #ttlMs: number;
  readonly #renewEveryMs: number;
  readonly #safetyMarginMs: number;
  readonly #listeners = new Set<(isLeader: boolean) => void>();
  readonly #log: (message: string, error?: unknown) => void;
  #running = false;
  #ticker: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  /** The value in the holder key while we lead. */
  #token: string | undefined;
  #fencingToken: number | undefined;
  /** performance.now() after which we no longer lead, whatever the timers say. */
  #leadsUntil = 0;
  #stepDownTimer: NodeJS.Timeout | undefined;

  constructor(connection: RedisConnection, options: LeaderLeaseOptions) {
    this.#ttlMs = options.ttlMs ?? 5000;
    this.#renewEveryMs = options.renewEveryMs ?? Math.floor(this.#ttlMs / 3);
    this.#safetyMarginMs = options.safetyMarginMs ?? Math.floor(this.#ttlMs / 5);
    // Renewing must get at least one chance before the leader has to step down.
    if (!(this.#renewEveryMs > 0) || !(this.#safetyMarginMs >= 0) || this.#renewEveryMs >= this.#ttlMs - this.#safetyMarginMs) {
      throw new VelofluxError('VF_ERR_CONFIG_INVALID', `leader lease ${options.name}: renewEveryMs (${this.#renewEveryMs}) must be below ttlMs - safetyMarginMs (${this.#ttlMs} - ${this.#safetyMarginMs})`);
    }
    this.#connection = connection;
    connection.defineCommand('veloLeaseAcquire', { numberOfKeys: 2, lua: ACQUIRE_SCRIPT });
    connection.defineCommand('veloLeaseRenew', { numberOfKeys: 1, lua: RENEW_SCRIPT });
    connection.defineCommand('veloLeaseRelease', { numberOfKeys: 1, lua: RELEASE_SCRIPT });
    this.#scripts = connection as unknown as LeaseScripts;
    const tag = `{lease:${escapeKeyPart(options.name)}}`;
    this.#holderKey = `${options.keyPrefix}${tag}:holder`;
    this.#epochKey = `${options.keyPrefix}${tag}:epoch`;
    this.#nodeId = options.nodeId;
    this.#log = options.log ?? (() => {});
  }

  /** True only while the lease is held and not about to expire. */
  get isLeader(): boolean {
    return this.#token !== undefined && performance.now() < this.#leadsUntil;
  }

  /** Strictly increasing across leaders; pass it along with any write the leader makes. */
  get fencingToken(): number | undefined {
    return this.isLeader ? this.#fencingToken : undefined;
  }

  /** Called with true on becoming leader and false on stepping down. Returns an unsubscribe. */
  onChange(listener: (isLeader: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The node id holding the lease now, by Redis. Rejects with VF_ERR_STATE_UNAVAILABLE. */
  async holder(): Promise<string | undefined> {
    let value: string | null;
    try {
      value = await this.#connection.get(this.#holderKey);
    } catch (err) {
      throw stateUnavailable(err, 'read the lease holder');
    }
    return value === null ? undefined : value.slice(0, value.lastIndexOf(':'));
  }

  /** Tries to acquire at once, then renews or retries every `renewEveryMs`. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#ticker = setInterval(() => this.#tick(), this.#renewEveryMs).unref();
    this.#tick();
  }

  /** Stops, and releases the lease if held so another instance takes over at once. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearInterval(this.#ticker);
    await this.#inFlight;
    const token = this.#token;
    this.#stepDown();
    if (token === undefined) return;
    try {
      await this.#scripts.veloLeaseRelease(this.#holderKey, token);
    } catch {
      // Redis is unreachable: the lease expires on its own within ttlMs.
    }
  }

  #tick(): void {
    if (this.#inFlight !== undefined) return;
    const attempt = this.#token === undefined ? this.#acquire() : this.#renew(this.#token);
    this.#inFlight = attempt.finally(() => (this.#inFlight = undefined));
  }

  async #acquire(): Promise<void> {
    const token = `${this.#nodeId}:${randomBytes(9).toString('base64url')}`;
    const sentAt = performance.now();
    let fencingToken: number;
    try {
      fencingToken = await this.#scripts.veloLeaseAcquire(this.#holderKey, this.#epochKey, token, this.#ttlMs);
    } catch {
      return;
    }
    if (fencingToken === 0) return;
    if (!this.#running || !this.#extend(sentAt)) {
      // Stopped meanwhile, or the answer came too late to lead safely: hand the lease back.
      this.#scripts.veloLeaseRelease(this.#holderKey, token).catch(() => {});
      return;
    }
    this.#token = token;
    this.#fencingToken = fencingToken;
    this.#emit(true);
  }

  async #renew(token: string): Promise<void> {
    const sentAt = performance.now();
    let renewed: number;
    try {
      renewed = await this.#scripts.veloLeaseRenew(this.#holderKey, token, this.#ttlMs);
    } catch {
      // Keep leading until the deadline: the next renewal may get through.
      return;
    }
    if (this.#token !== token) return;
    // 0: the lease is gone (it expired, or Redis lost its data) and may already be someone else's.
    if (renewed !== 1 || !this.#extend(sentAt)) this.#stepDown();
  }

  /** Leads until `ttl - margin` after `sentAt`; false if that moment has already passed. */
  #extend(sentAt: number): boolean {
    const until = sentAt + this.#ttlMs - this.#safetyMarginMs;
    const remaining = until - performance.now();
    if (remaining <= 0) return false;
    this.#leadsUntil = until;
    clearTimeout(this.#stepDownTimer);
    this.#stepDownTimer = setTimeout(() => this.#stepDown(), remaining).unref();
    return true;
  }

  #stepDown(): void {
    clearTimeout(this.#stepDownTimer);
    const wasLeader = this.#token !== undefined;
    const token = this.#token;
    this.#token = undefined;
    this.#fencingToken = undefined;
    this.#leadsUntil = 0;
    if (!wasLeader) return;
    // Hand the lease back if Redis still has it as ours, so the next leader need not wait for
    // the expiry; when Redis is unreachable this fails fast and the TTL does it instead.
    if (this.#running && token !== undefined) this.#scripts.veloLeaseRelease(this.#holderKey, token).catch(() => {});
    this.#emit(false);
  }

  #emit(isLeader: boolean): void {
    for (const listener of this.#listeners) {
      // A throwing listener must not stop the renewals (or the other listeners).
      try {
        listener(isLeader);
      } catch (err) {
        this.#log('a leader lease listener threw', err);
      }
    }
  }
}
