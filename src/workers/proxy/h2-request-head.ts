/**
 * An HTTP/2 request's header list (RFC 9113 §8.3) turned into the HTTP/1.1 head sent upstream,
 * in one pass, into the same fields `parseRequestHead` fills for HTTP/1.1 (request-head.ts), so
 * everything after it (routing, stages, forwarding headers, the exchange) is protocol-blind.
 *
 * nghttp2 has already refused what RFC 9113 makes a protocol error (upper-case names, unknown or
 * repeated pseudo-headers, a Content-Length the DATA frames contradict); the rules below are the
 * ones that decide what the backend sees, checked here so they do not depend on the engine:
 * - connection-specific fields (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding,
 *   Upgrade) make the request malformed (RFC 9113 §8.2.2): 400; TE other than `trailers` too;
 * - `:authority` becomes Host (RFC 9113 §8.3.1: an intermediary converting to HTTP/1.1 MUST
 *   create Host from it); a Host that names another authority is refused, since the route would
 *   be chosen on one name and the backend would serve another;
 * - Cookie fields, which h2 clients send one crumb each for better compression, are joined with
 *   "; " into one field (RFC 9113 §8.2.3), as an HTTP/1.1 backend expects;
 * - without Content-Length the body is sent upstream chunked, unless the HEADERS frame ended the
 *   stream (no body at all);
 * - a header list larger than `maxHeaderListSize` (counted as RFC 9113 §6.5.2 does: name, value
 *   and 32 octets per field) is a 431. nghttp2 holds clients to the size we announce only once
 *   they have acknowledged our SETTINGS; this holds the first requests to it as well.
 */
import type { ErrorCode } from '../../shared/errors.js';
import { HOP_BY_HOP, SET_BY_PROXY, VALID_HOST, isDigits, readProxyHeader, type RequestHeadFields } from './request-head.js';

/** RFC 9113 §8.2.2: fields only HTTP/1.x uses to manage its connection. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * `rawHeaders` is node's flat `[name, value, ...]` list, pseudo-headers included; `endStream`
 * whether the HEADERS frame carried END_STREAM.
 */
export function parseH2RequestHead(rawHeaders: readonly string[], endStream: boolean, maxHeaderListSize: number, into: RequestHeadFields): ErrorCode | undefined {
  let listSize = 0;
  let authority: string | undefined;
  let host: string | undefined;
  let lengthCount = 0;
  let cookie: string | undefined;
  const out = into.upstreamHeaders;
  into.contentLength = endStream ? 0 : -1;

  for (let i = 0; i < rawHeaders.length; i += 2) {
    // h2 field names are lower-case on the wire (RFC 9113 §8.2.1); nghttp2 refuses others.
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    listSize += name.length + value.length + 32;
    if (name.charCodeAt(0) === 58 /* : */) {
      // :method, :path and :scheme are read from the request itself.
      if (name === ':authority') authority = value;
      continue;
    }
    if (name === 'host') {
      if (host !== undefined) return 'VF_ERR_BAD_REQUEST';
      host = value;
    } else if (name === 'content-length') {
      if (++lengthCount > 1 || !isDigits(value)) return 'VF_ERR_BAD_REQUEST';
      into.contentLength = Number(value);
      out.push(name, value);
    } else if (name === 'cookie') {
      cookie = cookie === undefined ? value : `${cookie}; ${value}`;
    } else if (CONNECTION_SPECIFIC.has(name)) {
      return 'VF_ERR_BAD_REQUEST';
    } else if (name === 'te') {
      if (value.trim().toLowerCase() !== 'trailers') return 'VF_ERR_BAD_REQUEST';
    } else if (SET_BY_PROXY.has(name)) {
      readProxyHeader(name, value, into);
    } else if (!HOP_BY_HOP.has(name)) {
      if (name === 'via') into.incomingVia = into.incomingVia === undefined ? value : `${into.incomingVia}, ${value}`;
      out.push(name, value);
    }
  }

  if (listSize > maxHeaderListSize) return 'VF_ERR_HEADERS_TOO_LARGE';
  if (authority !== undefined && host !== undefined && host.toLowerCase() !== authority.toLowerCase()) return 'VF_ERR_BAD_REQUEST';
  const target = authority ?? host;
  // An https request names its authority one way or the other (RFC 9113 §8.3.1).
  if (target === undefined || target === '' || !VALID_HOST.test(target)) return 'VF_ERR_BAD_REQUEST';
  into.rawHost = target;
  out.push('host', target);
  if (cookie !== undefined) out.push('cookie', cookie);
  return undefined;
}
