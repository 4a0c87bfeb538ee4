/** How an undici failure maps to what the client sees, and whether another backend may be tried. */
import type { ErrorCode } from '../shared/errors.js';

export interface UpstreamFailure {
  readonly code: ErrorCode;
  /** The request never reached a backend's application (connect failed, or the socket closed before any response). */
  readonly beforeResponse: boolean;
}

const CONNECT_FAILED: UpstreamFailure = { code: 'VF_ERR_UPSTREAM_CONNECT', beforeResponse: true };
const CONNECT_TIMEOUT: UpstreamFailure = { code: 'VF_ERR_UPSTREAM_TIMEOUT', beforeResponse: true };
const TIMEOUT: UpstreamFailure = { code: 'VF_ERR_UPSTREAM_TIMEOUT', beforeResponse: false };
const BAD_RESPONSE: UpstreamFailure = { code: 'VF_ERR_UPSTREAM_BAD_RESPONSE', beforeResponse: false };

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

export function classifyUpstreamError(err: Error & { code?: string }): UpstreamFailure {
  const code = err.code ?? '';
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return CONNECT_TIMEOUT;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return TIMEOUT;
  if (CONNECT_CODES.has(code)) return CONNECT_FAILED;
  return BAD_RESPONSE;
}
