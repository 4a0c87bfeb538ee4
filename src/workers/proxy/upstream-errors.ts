/** How an upstream failure maps to what the client sees, and whether another backend may be tried. */
import type { ErrorCode } from '../../shared/errors.js';

export interface UpstreamFailure {
  readonly code: ErrorCode;
  /** The request never reached a backend's application (connect failed, or the socket closed before any response). */
  readonly beforeResponse: boolean;
}

const CONNECT_FAILED: UpstreamFailure = { code: 'VF_ERR_UPSTREAM_CONNECT', beforeResponse: true };
/**
 * The backend accepted the connection, then closed or reset it before a whole response head
 * arrived (nginx: "upstream prematurely closed connection"). That is a bad response, not a
 * failed connect; it is still retryable for idempotent requests, since a reused keep-alive
 * socket the backend had just closed fails the same way.
 */
const CLOSED_BEFORE_RESPONSE: UpstreamFailure = { code: 'VF_ERR_UPSTREAM_BAD_RESPONSE', beforeResponse: true };
const CONNECT_TIMEOUT: UpstreamFailure = { code: 'VF_ERR_UPSTREAM_TIMEOUT', beforeResponse: true };
const TIMEOUT: UpstreamFailure = { code: 'VF_ERR_UPSTREAM_TIMEOUT', beforeResponse: false };
const BAD_RESPONSE: UpstreamFailure = { code: 'VF_ERR_UPSTREAM_BAD_RESPONSE', beforeResponse: false };

/** errno values connect(2) and the resolver fail with: no connection was ever made. */
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  // The upstream pool was closed (a config swap replaced the backend) before the request ran.
  'UPSTREAM_POOL_CLOSED',
  // The backend address policy refused what a tenant's backend resolved to (issue 14): the
  // client sees a failed connect, not which internal address the name pointed at.
  'UPSTREAM_ADDRESS_DENIED',
]);

/** An established connection that ended before the response: "other side closed", reset, broken pipe. */
const CLOSED_CODES = new Set(['UPSTREAM_CLOSED', 'ECONNRESET', 'EPIPE']);

/** The backend's TLS did not check out: like a refused connection, nothing reached it. */
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);

export function classifyUpstreamError(err: Error & { code?: string }): UpstreamFailure {
  const code = err.code ?? '';
  if (code === 'UPSTREAM_CONNECT_TIMEOUT') return CONNECT_TIMEOUT;
  if (code === 'UPSTREAM_RESPONSE_TIMEOUT') return TIMEOUT;
  if (CONNECT_CODES.has(code) || TLS_CODES.has(code)) return CONNECT_FAILED;
  if (CLOSED_CODES.has(code)) return CLOSED_BEFORE_RESPONSE;
  return BAD_RESPONSE;
}
