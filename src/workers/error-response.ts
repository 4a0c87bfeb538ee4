/** Error answers from the proxy itself: the JSON body from the catalogue, bodies built once. */
import type { ServerResponse } from 'node:http';
import { ERRORS, errorBody, type ErrorCode } from '../shared/errors.js';

const BODIES = new Map<ErrorCode, string>(Object.keys(ERRORS).map((code) => [code as ErrorCode, errorBody(code as ErrorCode)]));

/**
 * `close` ends the connection after the answer: after a framing error nothing more read from
 * the socket can be trusted, and an unread request body is not worth draining.
 */
export function sendError(res: ServerResponse, code: ErrorCode, close: boolean): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = BODIES.get(code)!;
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  };
  if (close) headers.connection = 'close';
  res.writeHead(ERRORS[code].status, headers);
  res.end(body);
}
