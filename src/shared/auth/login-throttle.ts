/**
 * Brute-force protection for logins, decided before any password is hashed (a refused attempt
 * costs no scrypt time). It slows a guesser without locking the real user out, as the OWASP
 * Authentication Cheat Sheet ("Protect Against Automated Attacks") and the OWASP page "Blocking
 * Brute Force Attacks" advise: a hard per-account lock is itself a denial of service, since
 * anyone who knows an email could keep its owner out. Three limits, in this order:
 *
 * 1. Per address, whatever the account: 20 attempts in 15 minutes (one source guessing many
 *    accounts, password spraying).
 * 2. Per account and address: 5 attempts in 15 minutes. The lock binds that address only, so the
 *    account's owner, from anywhere else, still logs in.
 * 3. Per account, whatever the address: the first 10 attempts in the window are free; after
 *    that the account is paced, at most one attempt per delay, the delay doubling with each
 *    attempt from 1 s up to 60 s. A guesser spread over many addresses gets some 25 guesses per
 *    account in 15 minutes (10, then about one a minute) instead of unbounded ones, while the
 *    owner is told to wait at most a minute. (Against a botnet that takes every slot the moment
 *    it opens, the owner still competes for the slots: pacing bounds the guessing, it cannot
 *    tell the owner apart from a guesser before the password is checked.)
 *
 * A paced attempt is answered 429 with Retry-After at once rather than held open: holding it
 * would not slow a guesser who sends in parallel (each request would wait, then be hashed), would
 * cost a socket per waiting request, and a client told when to come back (the dashboard) can say
 * so to its user. Refused attempts are not hashed, so they cost the server almost nothing. A
 * client should honour Retry-After: an early retry still counts against its own address.
 *
 * The store's windowed counter (`countInWindow`) can only count a hit, never read without one,
 * so every attempt is counted as a failure up front, in `check`, and a successful login takes it
 * back by moving its account and address to a new generation, whose counts start at zero.
 * Counting up front is what makes the limits hold under concurrency too: a burst of parallel
 * guesses cannot all slip past the check before the first failure is recorded. An attempt
 * refused by one limit is not counted by the later ones (a locked address does not spend the
 * account's budget, so one source cannot push the account's delay up for everyone).
 *
 * Generations are durable counters: never reset, so counts of an older generation can never come
 * back. One per user (bounded by the users), and one per address that logged in successfully
 * after other attempts from it in the same window. A success resets its address for anyone
 * behind it (an office behind one NAT is not locked out by its own logins), and its account for
 * every address.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { VelofluxError } from '../errors.js';
import type { StateStore } from '../state/store.js';
import { canonicalEmail } from './identity.js';

export const LOGIN_THROTTLE_NAMESPACE = 'login-throttle';

export interface LoginThrottleOptions {
  /** Attempts an address may make in a window, whatever the account; the next one is refused. Default 20. */
  readonly maxFailuresPerAddress?: number;
  /** Attempts one address may make on one account in a window; the next one is refused. Default 5. */
  readonly maxFailuresPerAccountAndAddress?: number;
  /** Attempts on an account, from any address, before it is paced. Default 10. */
  readonly freeFailuresPerAccount?: number;
  /** The first pacing delay; it doubles with each further attempt. Default 1 s. */
  readonly minDelayMs?: number;
  /** The pacing delay never grows beyond this. Default 60 s. */
  readonly maxDelayMs?: number;
  /** Default 15 minutes. */
  readonly windowMs?: number;
}

/** What `check` counted, handed back to `succeeded` once the password was right. */
export interface LoginAttempt {
  readonly account: string;
  readonly address: string;
  readonly addressHits: number;
}

export class TooManyLoginAttemptsError extends VelofluxError {
  /** For the Retry-After header (RFC 9110 §10.2.3): an upper bound on the wait. */
  readonly retryAfterSeconds: number;

  constructor(retryAfterSeconds: number) {
    super('VF_ERR_TOO_MANY_ATTEMPTS');
    this.name = 'TooManyLoginAttemptsError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class LoginThrottle {
  readonly #store: StateStore;
  readonly #maxPerAddress: number;
  readonly #maxPerAccountAndAddress: number;
  readonly #freePerAccount: number;
  readonly #minDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #windowMs: number;

  constructor(store: StateStore, options: LoginThrottleOptions = {}) {
    this.#store = store;
    this.#maxPerAddress = positive('maxFailuresPerAddress', options.maxFailuresPerAddress ?? 20);
    this.#maxPerAccountAndAddress = positive('maxFailuresPerAccountAndAddress', options.maxFailuresPerAccountAndAddress ?? 5);
    this.#freePerAccount = positive('freeFailuresPerAccount', options.freeFailuresPerAccount ?? 10);
    this.#minDelayMs = positive('minDelayMs', options.minDelayMs ?? 1000);
    this.#maxDelayMs = positive('maxDelayMs', options.maxDelayMs ?? 60_000);
    this.#windowMs = positive('windowMs', options.windowMs ?? 15 * 60_000);
    if (this.#maxDelayMs < this.#minDelayMs) throw new VelofluxError('VF_ERR_CONFIG_INVALID', `login throttle: maxDelayMs (${this.#maxDelayMs}) must not be below minDelayMs (${this.#minDelayMs})`);
  }

  /** Seconds until a caller refused by a per-address limit may surely try again. */
  get retryAfterSeconds(): number {
    return Math.ceil(this.#windowMs / 1000);
  }

  /**
   * Counts this attempt and throws TooManyLoginAttemptsError (429) when a limit refuses it (see
   * the top of this file). Call it before hashing.
   */
  async check(email: string, address: string): Promise<LoginAttempt> {
    const account = canonicalEmail(email);
    const source = addressKey(address);
    const addressHits = await this.#hit(`address:${source}`, this.#windowMs);
    if (addressHits > this.#maxPerAddress) throw new TooManyLoginAttemptsError(this.retryAfterSeconds);
    // The account's generation is part of every account key: a success resets them all at once.
    const generation = await this.#generation(`account:${account}`);
    const accountKey = `account:${account}#${generation}`;
    const pairHits = await this.#store.countInWindow(LOGIN_THROTTLE_NAMESPACE, `${accountKey}|address:${source}`, this.#windowMs);
    if (pairHits > this.#maxPerAccountAndAddress) throw new TooManyLoginAttemptsError(this.retryAfterSeconds);
    const accountHits = await this.#store.countInWindow(LOGIN_THROTTLE_NAMESPACE, accountKey, this.#windowMs);
    if (accountHits > this.#freePerAccount) {
      // One attempt per delay: the first hit opens a pace window as long as the current delay,
      // and every other hit before it ends is refused.
      const delayMs = Math.min(this.#minDelayMs * 2 ** Math.min(accountHits - this.#freePerAccount - 1, 30), this.#maxDelayMs);
      const paceHits = await this.#store.countInWindow(LOGIN_THROTTLE_NAMESPACE, `pace:${accountKey}`, delayMs);
      if (paceHits > 1) throw new TooManyLoginAttemptsError(Math.ceil(delayMs / 1000));
    }
    return { account, address: source, addressHits };
  }

  /** The password was right: the attempts counted so far stop counting. */
  async succeeded(attempt: LoginAttempt): Promise<void> {
    await this.#store.increment(LOGIN_THROTTLE_NAMESPACE, `generation:account:${attempt.account}`);
    // An address whose only attempt was this one has nothing to take back; skipping it keeps
    // one counter from being written for every address a user ever logged in from.
    if (attempt.addressHits > 1) await this.#store.increment(LOGIN_THROTTLE_NAMESPACE, `generation:address:${attempt.address}`);
  }

  #generation(key: string): Promise<number> {
    return this.#store.counter(LOGIN_THROTTLE_NAMESPACE, `generation:${key}`);
  }

  async #hit(key: string, windowMs: number): Promise<number> {
    return this.#store.countInWindow(LOGIN_THROTTLE_NAMESPACE, `${key}#${await this.#generation(key)}`, windowMs);
  }
}

/**
 * One key per client: an IPv4-mapped IPv6 address is its IPv4 address, and IPv6 is keyed by its
 * /64, since a single host usually holds a whole /64 and could otherwise rotate addresses.
 */
export function addressKey(address: string): string {
  const plain = address.trim().toLowerCase().replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(plain);
  if (mapped !== null) return mapped[1]!;
  if (isIPv4(plain) || !isIPv6(plain)) return plain;
  return `${expandIPv6(plain).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, without leading zeros. */
function expandIPv6(address: string): string[] {
  let text = address;
  const v4Tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4Tail !== null) {
    const [a, b, c, d] = v4Tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4Tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  return [...headGroups, ...zeros, ...tailGroups].map((group) => parseInt(group, 16).toString(16));
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new VelofluxError('VF_ERR_CONFIG_INVALID', `login throttle: ${name} must be a whole number >= 1, not ${value}`);
  return value;
}
