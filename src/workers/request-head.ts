/**
 * One pass over the client's raw headers that both enforces the framing rules node's parser lets
 * through and builds the header list sent upstream (a flat `[name, value, ...]` array, as undici
 * takes it). Rules (RFC 9112 §6, §3.2, RFC 9110 §7.6.1):
 * - more than one Host, or more than one Content-Length: 400 (ambiguous target / framing);
 * - Transfer-Encoding in HTTP/1.0, with Content-Length, or whose final coding is not `chunked`
 *   (including an empty value): 400, since a peer may frame the body differently;
 * - hop-by-hop headers (and every header named in Connection) are not forwarded; neither is
 *   `Expect` (node answers 100-continue itself) nor any `Upgrade` such as h2c.
 * The caller adds X-Forwarded-* and X-Request-Id afterwards.
 */
import type { ErrorCode } from '../shared/errors.js';

/** Where the parse writes what the proxy needs later (the per-request exchange). */
export interface RequestHeadFields {
  upstreamHeaders: string[];
  /** The Host header as sent (may include a port), '' when absent. */
  rawHost: string;
  /** Declared body length; -1 when chunked; 0 when there is no body. */
  contentLength: number;
  incomingForwardedFor: string | undefined;
  incomingForwardedProto: string | undefined;
  incomingForwardedHost: string | undefined;
  incomingRequestId: string | undefined;
}

/** Lower-case names never forwarded (either direction), by RFC 9110 §7.6.1 plus common proxy extensions. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Set by VeloFlux itself, so the client's values are taken from the fields above, not copied. */
const SET_BY_PROXY = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id', 'expect', 'forwarded']);

export function parseRequestHead(rawHeaders: readonly string[], httpVersionMinor: number, into: RequestHeadFields): ErrorCode | undefined {
  let hostCount = 0;
  let lengthCount = 0;
  let transferEncoding: string | undefined;
  let connectionTokens: string | undefined;
  const out = into.upstreamHeaders;
  into.contentLength = 0;

  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    // V8 returns the same string when it is already lower-case, so this rarely allocates.
    const lower = name.toLowerCase();
    if (lower === 'host') {
      if (++hostCount > 1) return 'VF_ERR_BAD_REQUEST';
      into.rawHost = value;
      out.push(name, value);
    } else if (lower === 'content-length') {
      if (++lengthCount > 1) return 'VF_ERR_BAD_REQUEST';
      into.contentLength = Number(value);
      out.push(name, value);
    } else if (lower === 'transfer-encoding') {
      transferEncoding = transferEncoding === undefined ? value : `${transferEncoding},${value}`;
    } else if (lower === 'connection') {
      connectionTokens = connectionTokens === undefined ? value : `${connectionTokens},${value}`;
    } else if (SET_BY_PROXY.has(lower)) {
      if (lower === 'x-forwarded-for') into.incomingForwardedFor = into.incomingForwardedFor === undefined ? value : `${into.incomingForwardedFor}, ${value}`;
      else if (lower === 'x-forwarded-proto') into.incomingForwardedProto = value;
      else if (lower === 'x-forwarded-host') into.incomingForwardedHost = value;
      else if (lower === 'x-request-id') into.incomingRequestId = value;
    } else if (!HOP_BY_HOP.has(lower)) {
      out.push(name, value);
    }
  }

  if (transferEncoding !== undefined) {
    if (httpVersionMinor === 0 || lengthCount > 0 || !isFinalChunked(transferEncoding)) return 'VF_ERR_BAD_REQUEST';
    into.contentLength = -1;
  }
  if (connectionTokens !== undefined) removeConnectionNominated(out, connectionTokens);
  return undefined;
}

/** True when the codings list ends with `chunked` and names it once (RFC 9112 §6.3 rule 4). */
function isFinalChunked(codings: string): boolean {
  const parts = codings.split(',').map((p) => p.trim().toLowerCase());
  const last = parts[parts.length - 1];
  return last === 'chunked' && parts.indexOf('chunked') === parts.length - 1 && parts.every((p) => p !== '');
}

/** Headers named in Connection are hop-by-hop for this message (RFC 9110 §7.6.1). */
export function removeConnectionNominated(headers: string[], connection: string): void {
  const named = connection.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '' && t !== 'close' && t !== 'keep-alive');
  if (named.length === 0) return;
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (named.includes(headers[i]!.toLowerCase())) headers.splice(i, 2);
  }
}
