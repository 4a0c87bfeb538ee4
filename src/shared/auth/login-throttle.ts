/**
 * Brute-force protection for logins, decided before any password is hashed (a refused attempt
 * costs no scrypt time). Limits: 5 failed attempts per account in 15 minutes, whatever the
 * address, and 20 per address, whatever the account (OWASP Authentication Cheat Sheet).
 *
 * The store's windowed counter (`countInWindow`) can only count a hit, never read without one,
 * so every attempt is counted as a failure up front, in `check`, and a successful login takes it
 * back by moving its account and address to a new generation, whose counts start at zero.
 * Counting up front is what makes the limit hold under concurrency too: a burst of parallel
 * guesses cannot all slip past the check before the first failure is recorded.
 *
 * Generations are durable counters: never reset, so counts of an older generation can never come
 * back. One per user (bounded by the users), and one per address that logged in successfully
 * after other attempts from it in the same window. A success resets its address for anyone
 * behind it (an office behind one NAT is not locked out by its own logins); the address limit
 * therefore binds callers who hold no valid credentials at all, and the account limit binds
 * everyone.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { VelofluxError } from '../errors.js';
import type { StateStore } from '../state/store.js';
import { canonicalEmail } from './identity.js';

export const LOGIN_THROTTLE_NAMESPACE = 'login-throttle';

export interface LoginThrottleOptions {
  /** Failed attempts an account may have in a window; the next one is refused. Default 5. */
  readonly maxFailuresPerAccount?: number;
  /** Failed attempts an address may make in a window; the next one is refused. Default 20. */
  readonly maxFailuresPerAddress?: number;
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
  /** For the Retry-After header (RFC 9110 §10.2.3): an upper bound, the window's length. */
  readonly retryAfterSeconds: number;

  constructor(retryAfterSeconds: number) {
    super('VF_ERR_TOO_MANY_ATTEMPTS');
    this.name = 'TooManyLoginAttemptsError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class LoginThrottle {
  readonly #store: StateStore;
  readonly #maxFailuresPerAccount: number;
  readonly #maxFailuresPerAddress: number;
  readonly #windowMs: number;

  constructor(store: StateStore, options: LoginThrottleOptions = {}) {
    this.#store = store;
    this.#maxFailuresPerAccount = positive('maxFailuresPerAccount', options.maxFailuresPerAccount ?? 5);
    this.#maxFailuresPerAddress = positive('maxFailuresPerAddress', options.maxFailuresPerAddress ?? 20);
    this.#windowMs = positive('windowMs', options.windowMs ?? 15 * 60_000);
  }

  /** Seconds until a refused caller may surely try again. */
  get retryAfterSeconds(): number {
    return Math.ceil(this.#windowMs / 1000);
  }

  /**
   * Counts this attempt against the address and the account, and throws
   * TooManyLoginAttemptsError (429) when either is over its limit. Call it before hashing.
   */
  async check(email: string, address: string): Promise<LoginAttempt> {
    const account = canonicalEmail(email);
    const source = addressKey(address);
    // The address first: a refused address does not spend the account's budget.
    const addressHits = await this.#hit(`address:${source}`);
    if (addressHits > this.#maxFailuresPerAddress) throw new TooManyLoginAttemptsError(this.retryAfterSeconds);
    const accountHits = await this.#hit(`account:${account}`);
    if (accountHits > this.#maxFailuresPerAccount) throw new TooManyLoginAttemptsError(this.retryAfterSeconds);
    return { account, address: source, addressHits };
  }

  /** The password was right: the attempts counted so far stop counting. */
  async succeeded(attempt: LoginAttempt): Promise<void> {
    await this.#store.increment(LOGIN_THROTTLE_NAMESPACE, `generation:account:${attempt.account}`);
    // An address whose only attempt was this one has nothing to take back; skipping it keeps
    // one counter from being written for every address a user ever logged in from.
    if (attempt.addressHits > 1) await this.#store.increment(LOGIN_THROTTLE_NAMESPACE, `generation:address:${attempt.address}`);
  }

  async #hit(key: string): Promise<number> {
    const generation = await this.#store.counter(LOGIN_THROTTLE_NAMESPACE, `generation:${key}`);
    return this.#store.countInWindow(LOGIN_THROTTLE_NAMESPACE, `${key}#${generation}`, this.#windowMs);
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
