/**
 * One pass over the client's raw headers that both enforces the framing rules node's parser lets
 * through and builds the header list sent upstream (a flat `[name, value, ...]` array, as the
 * upstream client takes it). Rules (RFC 9112 §6, §3.2, RFC 9110 §7.6.1):
 * - more than one Host, no Host in HTTP/1.1, or a Host that is not `uri-host [":" port]`: 400
 *   (RFC 9112 §3.2 makes all three a MUST);
 * - more than one Content-Length, or one that is not 1*DIGIT: 400 (RFC 9112 §6.3 rule 5);
 * - Transfer-Encoding in HTTP/1.0, with Content-Length, or other than exactly one `chunked`
 *   (an empty value, `gzip`, `chunked, gzip`, `gzip, chunked`, `chunked` twice): 400, since a
 *   peer may frame the body differently (RFC 9112 §6.1, §6.3 rules 3-4);
 * - hop-by-hop headers (and every header named in Connection, except Host and Content-Length)
 *   are not forwarded; neither is `Expect` (node answers 100-continue itself) nor any `Upgrade`
 *   such as h2c, nor its HTTP2-Settings.
 * The caller adds X-Forwarded-* and X-Request-Id afterwards.
 */
import type { ErrorCode } from '../../shared/errors.js';

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
  /** Via as received (forwarded too): the loop check looks for this instance's pseudonym in it. */
  incomingVia: string | undefined;
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
  // Only meaningful with `Upgrade: h2c`, which is never forwarded (RFC 7540 §3.2.1).
  'http2-settings',
]);

/**
 * Never stripped when a peer names them in Connection: dropping Host would send the request to
 * the backend's default virtual host, and dropping Content-Length would change the framing the
 * proxy already validated ("hop-by-hop abuse").
 */
const NOT_NOMINATABLE = new Set(['host', 'content-length']);

/**
 * `uri-host [ ":" port ]` (RFC 9112 §3.2, RFC 3986 §3.2.2): an IP literal in brackets or a
 * reg-name (unreserved / pct-encoded / sub-delims; this also covers IPv4). Empty is allowed.
 */
export const VALID_HOST = /^(?:\[[0-9A-Za-z._~!$&'()*+,;=:-]+\]|[0-9A-Za-z._~!$&'()*+,;=%-]*)(?::[0-9]*)?$/;

/** Set by VeloFlux itself, so the client's values are taken from the fields above, not copied. */
export const SET_BY_PROXY = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id', 'expect', 'forwarded']);

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
      if (++hostCount > 1 || !VALID_HOST.test(value)) return 'VF_ERR_BAD_REQUEST';
      into.rawHost = value;
      out.push(name, value);
    } else if (lower === 'content-length') {
      // llhttp already refuses these; checked again so the rule does not depend on the engine.
      if (++lengthCount > 1 || !isDigits(value)) return 'VF_ERR_BAD_REQUEST';
      into.contentLength = Number(value);
      out.push(name, value);
    } else if (lower === 'transfer-encoding') {
      transferEncoding = transferEncoding === undefined ? value : `${transferEncoding},${value}`;
    } else if (lower === 'connection') {
      connectionTokens = connectionTokens === undefined ? value : `${connectionTokens},${value}`;
    } else if (SET_BY_PROXY.has(lower)) {
      readProxyHeader(lower, value, into);
    } else if (!HOP_BY_HOP.has(lower)) {
      if (lower === 'via') into.incomingVia = into.incomingVia === undefined ? value : `${into.incomingVia}, ${value}`;
      out.push(name, value);
    }
  }

  // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400. node's own requireHostHeader
  // check is off (http-engine.ts) so that this answer carries the JSON error body too.
  if (hostCount === 0 && httpVersionMinor !== 0) return 'VF_ERR_BAD_REQUEST';
  if (transferEncoding !== undefined) {
    if (httpVersionMinor === 0 || lengthCount > 0 || !isChunkedOnly(transferEncoding)) return 'VF_ERR_BAD_REQUEST';
    into.contentLength = -1;
  }
  if (connectionTokens !== undefined) removeConnectionNominated(out, connectionTokens);
  return undefined;
}

/**
 * A header VeloFlux sets itself (SET_BY_PROXY): what the client sent is kept aside, believed
 * later only from a trusted proxy, and never copied upstream as it is.
 */
export function readProxyHeader(lower: string, value: string, into: RequestHeadFields): void {
  if (lower === 'x-forwarded-for') into.incomingForwardedFor = into.incomingForwardedFor === undefined ? value : `${into.incomingForwardedFor}, ${value}`;
  else if (lower === 'x-forwarded-proto') into.incomingForwardedProto = value;
  else if (lower === 'x-forwarded-host') into.incomingForwardedHost = value;
  else if (lower === 'x-request-id') into.incomingRequestId = value;
}

/**
 * True when the codings are exactly `chunked` (case-insensitive). RFC 9112 §6.3 rule 4 makes a
 * final `chunked` the framing; anything before it (`gzip, chunked`) would still be applied to
 * the bytes node hands us, and Transfer-Encoding is hop-by-hop, so forwarding the body without
 * its coding would corrupt it. nginx refuses those too (RFC 9112 §6.1 suggests 501; the
 * catalogue has no such code, so it is a 400 like every other framing refusal).
 */
function isChunkedOnly(codings: string): boolean {
  return codings.trim().toLowerCase() === 'chunked';
}

export function isDigits(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Headers named in Connection are hop-by-hop for this message (RFC 9110 §7.6.1). */
export function removeConnectionNominated(headers: string[], connection: string): void {
  // Nearly every upstream response says just this; it names no header, and skipping the split
  // saves four allocations per response.
  if (connection === 'keep-alive' || connection === 'close') return;
  const named = connection.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '' && t !== 'close' && t !== 'keep-alive' && !NOT_NOMINATABLE.has(t));
  if (named.length === 0) return;
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (named.includes(headers[i]!.toLowerCase())) headers.splice(i, 2);
  }
}
