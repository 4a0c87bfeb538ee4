/**
 * What a request is counted by, per the policy's `key`. Every key carries its kind as a prefix
 * (`ip:`, `h:`, `hh:`, `r:`), so a header value can never name the bucket of a client address
 * (a key-less request falls back to its address) nor the other way round. Further escaping, for
 * Redis, happens where keys become Redis keys.
 */
import { createHash } from 'node:crypto';

/**
 * Header values longer than this are counted by their SHA-256 instead: a client cannot make each
 * of the 100k buckets a policy may hold cost kilobytes.
 */
const MAX_VALUE_LENGTH = 128;

type Kind = 'ip' | 'header' | 'route';

export class RateLimitKey {
  readonly #kind: Kind;
  /** Lower-case header name for `header:<name>`. */
  readonly #header: string;

  /** `spec` is validated by the config schema: `ip`, `route` or `header:<name>`. */
  constructor(spec: string) {
    if (spec === 'ip' || spec === 'route') {
      this.#kind = spec;
      this.#header = '';
    } else if (spec.startsWith('header:') && spec.length > 'header:'.length) {
      this.#kind = 'header';
      this.#header = spec.slice('header:'.length).toLowerCase();
    } else {
      throw new TypeError(`rate limit key: expected ip, route or header:<name>, got "${spec}"`);
    }
  }

  /**
   * The bucket key of a request. `rawHeaders` is node's flat `[name, value, ...]` list: scanning it
   * avoids building `req.headers`, which node does lazily and only on demand.
   */
  of(clientAddress: string, rawHeaders: readonly string[], routeLabel: string): string {
    if (this.#kind === 'ip') return `ip:${clientAddress}`;
    if (this.#kind === 'route') return `r:${routeLabel}`;
    const value = this.#headerValue(rawHeaders);
    if (value === '') return `ip:${clientAddress}`;
    if (value.length > MAX_VALUE_LENGTH) return `hh:${createHash('sha256').update(value).digest('base64url')}`;
    return `h:${value}`;
  }

  /** The first non-empty value of the header, '' when absent. */
  #headerValue(rawHeaders: readonly string[]): string {
    const name = this.#header;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const candidate = rawHeaders[i]!;
      // Comparing lengths first keeps toLowerCase (which rarely allocates anyway) off most headers.
      if (candidate.length === name.length && candidate.toLowerCase() === name) {
        const value = rawHeaders[i + 1]!;
        if (value !== '') return value;
      }
    }
    return '';
  }
}
