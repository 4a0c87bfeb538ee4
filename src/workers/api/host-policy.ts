/**
 * Which Host names the main API answers to (`server.api.allowedHosts`): a DNS rebinding defence.
 * A hostile page can make its own domain resolve to this server's address; the browser then treats
 * the API as same-origin with that page and sends the page's domain as Host, so the Host header is
 * what tells such a request apart (the Origin check of the streams does not, as the origins match).
 * Unset: any Host is answered, as before.
 */

/** `host[:port]` of a Host header, IPv6 literals in brackets (RFC 9110 §7.2). */
const HOST_HEADER = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d+))?$/;

/** The host name and port of a Host header, the name lowercased; undefined when it is malformed. */
export function parseHostHeader(host: string): { hostname: string; port: string | undefined } | undefined {
  const parts = HOST_HEADER.exec(host);
  if (parts === null) return undefined;
  return { hostname: parts[1]!.toLowerCase(), port: parts[2] };
}

export class HostPolicy {
  readonly #allowed: ReadonlySet<string> | undefined;

  /** Host names without port (`api.example.com`, `127.0.0.1`, `[::1]`); undefined allows every Host. */
  constructor(allowedHosts: readonly string[] | undefined) {
    this.#allowed = allowedHosts === undefined ? undefined : new Set(allowedHosts.map((h) => withoutFinalDot(h.toLowerCase())));
  }

  /** Whether a request with this Host header is answered; any port, since the proxy in front may use another. */
  allows(host: string | undefined): boolean {
    if (this.#allowed === undefined) return true;
    const parsed = host === undefined ? undefined : parseHostHeader(host);
    return parsed !== undefined && this.#allowed.has(withoutFinalDot(parsed.hostname));
  }
}

/** `api.example.com.` is the same name as `api.example.com` (a fully qualified name, RFC 1034 §3.1). */
function withoutFinalDot(name: string): string {
  return name.endsWith('.') ? name.slice(0, -1) : name;
}
