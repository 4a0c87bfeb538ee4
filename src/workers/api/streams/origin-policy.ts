/**
 * Which web pages may open a stream. Browsers send `Origin` on every WebSocket handshake and never
 * enforce the same-origin policy on WebSockets themselves (RFC 6455 §10.2), so without this check
 * any site a user visits could read the streams that need no token (cross-site WebSocket hijacking).
 */

import { parseHostHeader } from '../host-policy.js';

/** The port an Origin implies when it names none (RFC 6454 §4: the scheme's default port). */
const DEFAULT_PORTS: Readonly<Record<string, string>> = { 'http:': '80', 'ws:': '80', 'https:': '443', 'wss:': '443' };

export class OriginPolicy {
  readonly #allowsEveryOrigin: boolean;
  readonly #allowedOrigins: ReadonlySet<string>;

  /** `allowedOrigins` are exact serialised origins (`https://app.example.com`); `*` allows every origin. */
  constructor(allowedOrigins: readonly string[]) {
    this.#allowsEveryOrigin = allowedOrigins.includes('*');
    this.#allowedOrigins = new Set(allowedOrigins);
  }

  /**
   * A handshake without Origin comes from a non-browser client (curl, a probe, another service),
   * which could send any Origin it likes, so there is nothing to check. A page served from the
   * same host and port as this request (the dashboard behind the load balancer) is always allowed.
   */
  allows(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined) return true;
    if (this.#allowsEveryOrigin || this.#allowedOrigins.has(origin)) return true;
    return host !== undefined && isSameOrigin(origin, host);
  }
}

function isSameOrigin(origin: string, host: string): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // includes the opaque origin "null" (sandboxed frames, file: pages)
  }
  const originPort = url.port || DEFAULT_PORTS[url.protocol];
  const parsed = parseHostHeader(host);
  if (originPort === undefined || parsed === undefined) return false;
  return url.hostname === parsed.hostname && Number(originPort) === Number(parsed.port ?? originPort);
}
