/**
 * gRPC clients (`content-type: application/grpc*`) read a call's outcome from `grpc-status`,
 * not from the HTTP status (gRPC over HTTP/2 protocol, "Responses"): an error VeloFlux answers
 * itself reaches them as HTTP 200 in Trailers-Only form, one HEADERS frame with END_STREAM
 * carrying grpc-status and grpc-message, with the status that says what happened (the gRPC
 * "HTTP to gRPC status code mapping", sharpened where the proxy knows more: a timeout is
 * DEADLINE_EXCEEDED, a limit RESOURCE_EXHAUSTED). `grpc-timeout` is read here too.
 */
import type { Http2ServerResponse } from 'node:http2';
import type { ServerResponse } from 'node:http';
import { ERRORS, type ErrorCode } from '../../shared/errors.js';
import { respondAndEnd } from './http2-connection.js';

/** The gRPC status codes VeloFlux answers with (grpc/doc/statuscodes.md). */
export const GRPC_STATUS = {
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** By HTTP status of the catalogue entry; a code missing here is INTERNAL. */
const BY_HTTP_STATUS: ReadonlyMap<number, number> = new Map([
  [400, GRPC_STATUS.INTERNAL],
  [401, GRPC_STATUS.UNAUTHENTICATED],
  [403, GRPC_STATUS.PERMISSION_DENIED],
  [404, GRPC_STATUS.UNIMPLEMENTED],
  [405, GRPC_STATUS.UNIMPLEMENTED],
  [408, GRPC_STATUS.DEADLINE_EXCEEDED],
  [413, GRPC_STATUS.RESOURCE_EXHAUSTED],
  [429, GRPC_STATUS.RESOURCE_EXHAUSTED],
  [431, GRPC_STATUS.RESOURCE_EXHAUSTED],
  [502, GRPC_STATUS.UNAVAILABLE],
  [503, GRPC_STATUS.UNAVAILABLE],
  [504, GRPC_STATUS.DEADLINE_EXCEEDED],
]);

export function grpcStatusOf(code: ErrorCode): number {
  return BY_HTTP_STATUS.get(ERRORS[code].status) ?? GRPC_STATUS.INTERNAL;
}

/** `application/grpc`, `application/grpc+proto`, `application/grpc-web`...: the client reads grpc-status. */
export function isGrpc(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.length >= 16 && contentType.slice(0, 16).toLowerCase() === 'application/grpc';
}

/**
 * grpc-message is percent-encoded: bytes outside printable ASCII, and `%` itself (gRPC over
 * HTTP/2, "Responses"). The catalogue's messages are ASCII, so this rarely changes anything.
 */
function encodeMessage(message: string): string {
  return message.replace(/[^\x20-\x24\x26-\x7e]/g, (c) => encodeURIComponent(c));
}

const MESSAGES = new Map<ErrorCode, string>(Object.keys(ERRORS).map((code) => [code as ErrorCode, `${code}: ${encodeMessage(ERRORS[code as ErrorCode].message)}`]));

/** The grpc-status and grpc-message fields for `code` (the message names the VF_ERR code, as the JSON body does). */
export function grpcTrailers(code: ErrorCode): Record<string, string> {
  return { 'grpc-status': String(grpcStatusOf(code)), 'grpc-message': MESSAGES.get(code)! };
}

/** Answers a gRPC request with `code` in Trailers-Only form; `h2` for an HTTP/2 stream. */
export function sendGrpcError(res: ServerResponse, code: ErrorCode, h2: boolean, contentType: string): void {
  const headers = { 'content-type': contentType, ...grpcTrailers(code) };
  if (h2) return respondAndEnd(res as unknown as Http2ServerResponse, headers);
  // gRPC needs HTTP/2; an HTTP/1.1 client (a gRPC-Web one) still gets the status in the head.
  if (res.headersSent || res.destroyed) return void res.destroy();
  res.writeHead(200, { ...headers, 'content-length': 0, 'cache-control': 'no-store' });
  res.end();
}

const UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/** `grpc-timeout` (`TimeoutValue TimeoutUnit`, at most 8 digits) in ms, or undefined when absent or malformed. */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) return undefined;
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}
