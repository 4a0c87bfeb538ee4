/**
 * Sticky sessions for one pool: the cookie value is an HMAC of the pool and backend id under the
 * instance's sticky key, so it is opaque (it never reveals an address), cannot be forged to reach
 * a chosen backend, and stays valid across workers, reloads and restarts. A cookie that matches
 * no backend (tampered, or its backend was removed) is simply ignored.
 */
import { createHmac } from 'node:crypto';
import type { Backend } from './backend.js';

export interface StickyConfig {
  readonly cookie: string;
  readonly maxAge?: number | undefined;
}

export class StickySessions {
  readonly #cookieName: string;
  readonly #byToken = new Map<string, Backend>();
  /** `Set-Cookie` value per backend index (without the Secure attribute). */
  readonly #setCookie: string[];

  constructor(poolName: string, backends: readonly Backend[], config: StickyConfig, secret: string) {
    this.#cookieName = config.cookie;
    const attributes = `; Path=/; HttpOnly; SameSite=Lax${config.maxAge === undefined ? '' : `; Max-Age=${Math.floor(config.maxAge / 1000)}`}`;
    this.#setCookie = backends.map((backend) => {
      const token = createHmac('sha256', secret).update(`${poolName}\0${backend.id}`).digest('base64url').slice(0, 27);
      this.#byToken.set(token, backend);
      return `${config.cookie}=${token}${attributes}`;
    });
  }

  /** The backend the request's cookie pins it to, if the cookie is genuine. */
  backendFor(cookieHeader: string | undefined): Backend | undefined {
    if (cookieHeader === undefined) return undefined;
    const token = cookieValue(cookieHeader, this.#cookieName);
    return token === undefined ? undefined : this.#byToken.get(token);
  }

  setCookieFor(backend: Backend, secure: boolean): string {
    const value = this.#setCookie[backend.index]!;
    return secure ? `${value}; Secure` : value;
  }
}

/** The value of cookie `name` in a Cookie header (RFC 6265 §5.4 pairs separated by "; "). */
export function cookieValue(header: string, name: string): string | undefined {
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    if (pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return undefined;
}
