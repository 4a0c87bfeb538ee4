/**
 * Response trailers from a backend's chunked body, passed on to the client: in the last chunk
 * for HTTP/1.1 (node writes them only when the response is chunked) and as a trailing HEADERS
 * frame for HTTP/2 (gRPC's grpc-status travels this way). RFC 9110 §6.5.1 forbids fields that
 * frame, route or control the message in trailers, and §6.5.2 lets a recipient drop what it
 * does not know how to merge: those, and hop-by-hop fields (§7.6.1), are not forwarded.
 */
import { HOP_BY_HOP } from './request-head.js';

const NOT_IN_TRAILERS = new Set([
  ...HOP_BY_HOP,
  'content-length',
  'content-type',
  'content-encoding',
  'content-range',
  'host',
  'authorization',
  'set-cookie',
  'cache-control',
  'expires',
  'date',
  'location',
  'retry-after',
  'vary',
]);

/** The trailers a client may be sent, or undefined when none are left; repeated fields are joined with ", ". */
export function forwardableTrailers(raw: readonly string[] | undefined): Record<string, string> | undefined {
  if (raw === undefined || raw.length === 0) return undefined;
  let out: Record<string, string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (NOT_IN_TRAILERS.has(name) || name.charCodeAt(0) === 58 /* : */) continue;
    out ??= {};
    const value = raw[i + 1]!;
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}
