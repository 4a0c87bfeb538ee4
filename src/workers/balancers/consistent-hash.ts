import type { Backend } from '../runtime/backend.js';
import type { BalancerOptions, HashKey, PickContext } from './balancer.js';
import { HashRingBalancer } from './hash-ring-balancer.js';
import { murmur3String } from './string-hash.js';

const EQUALS = 0x3d;
const SPACE = 0x20;
const TAB = 0x09;
const DOUBLE_QUOTE = 0x22;
/** `murmur3String` returns an unsigned 32-bit value, so a negative one can mean "no key". */
const NO_KEY = -1;

/**
 * Affinity by a request attribute (`options.hashKey`): a header, a cookie or the path, hashed onto
 * a consistent hash ring (see HashRing for what moves when the pool changes).
 *
 * A request without the key falls back to its client address rather than to a fixed backend or to
 * a random one: a client that has not got its session cookie yet (or whose proxy strips the
 * header) still sticks to one backend, and keyless requests spread across the pool instead of
 * piling onto whichever backend owns the empty key. nginx's `hash $cookie_sid consistent` hashes
 * the empty string for such requests, so deployments add a `map` that falls back to
 * `$remote_addr`; this is that fallback, built in.
 */
export class ConsistentHashBalancer extends HashRingBalancer {
  readonly #keyKind: HashKey['kind'];
  /** Header name (lower-cased, as node:http gives headers) or cookie name (case-sensitive, RFC 6265). */
  readonly #keyName: string;

  constructor(backends: readonly Backend[], options: BalancerOptions) {
    super(backends);
    const hashKey = options.hashKey;
    if (hashKey === undefined) throw new TypeError('consistent_hash: options.hashKey is required');
    if (hashKey.kind !== 'path' && hashKey.name.length === 0) {
      throw new TypeError(`consistent_hash: hashKey.name must not be empty for a ${hashKey.kind} key`);
    }
    this.#keyKind = hashKey.kind;
    if (hashKey.kind === 'header') this.#keyName = hashKey.name.toLowerCase();
    else if (hashKey.kind === 'cookie') this.#keyName = hashKey.name;
    else this.#keyName = '';
  }

  protected keyHash(ctx: PickContext): number {
    const hash = this.#hashKey(ctx);
    return hash === NO_KEY ? murmur3String(ctx.clientAddress) : hash;
  }

  #hashKey(ctx: PickContext): number {
    switch (this.#keyKind) {
      case 'path':
        return murmur3String(ctx.path);
      case 'header': {
        const value = ctx.headers[this.#keyName];
        const first = typeof value === 'string' ? value : value?.[0];
        return first === undefined || first.length === 0 ? NO_KEY : murmur3String(first);
      }
      case 'cookie': {
        const cookie = ctx.headers.cookie;
        if (typeof cookie === 'string') return this.#hashCookie(cookie);
        if (cookie === undefined) return NO_KEY;
        for (let i = 0; i < cookie.length; i++) {
          const hash = this.#hashCookie(cookie[i]!);
          if (hash !== NO_KEY) return hash;
        }
        return NO_KEY;
      }
    }
  }

  /**
   * Hashes the value of the first cookie named `#keyName` in a `Cookie` header (RFC 6265 §4.2:
   * `name=value` pairs separated by "; "), reading the header in place: no split, no substring,
   * no cookie object. A DQUOTE-wrapped value is hashed without its quotes.
   */
  #hashCookie(header: string): number {
    const name = this.#keyName;
    const length = header.length;
    let pairStart = 0;
    while (pairStart < length) {
      while (pairStart < length && isSpace(header.charCodeAt(pairStart))) pairStart++;
      let pairEnd = header.indexOf(';', pairStart);
      if (pairEnd === -1) pairEnd = length;
      const equals = pairStart + name.length;
      if (equals < pairEnd && header.charCodeAt(equals) === EQUALS && header.startsWith(name, pairStart)) {
        let valueStart = equals + 1;
        let valueEnd = pairEnd;
        while (valueEnd > valueStart && isSpace(header.charCodeAt(valueEnd - 1))) valueEnd--;
        if (
          valueEnd - valueStart >= 2 &&
          header.charCodeAt(valueStart) === DOUBLE_QUOTE &&
          header.charCodeAt(valueEnd - 1) === DOUBLE_QUOTE
        ) {
          valueStart++;
          valueEnd--;
        }
        return valueEnd > valueStart ? murmur3String(header, valueStart, valueEnd) : NO_KEY;
      }
      pairStart = pairEnd + 1;
    }
    return NO_KEY;
  }
}

function isSpace(code: number): boolean {
  return code === SPACE || code === TAB;
}
