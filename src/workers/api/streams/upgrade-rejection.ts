/**
 * Refuses an HTTP upgrade before the WebSocket handshake. The socket came from the HTTP server's
 * 'upgrade' event, so no HTTP response object exists: the answer is written on the raw socket with
 * the same `{"error": {"code", "message"}}` body as every other VeloFlux error.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { ERRORS, errorBody, type ErrorCode } from '../../../shared/errors.js';

export function rejectUpgrade(socket: Duplex, code: ErrorCode, message?: string): void {
  const { status } = ERRORS[code];
  const body = errorBody(code, message);
  // Node removes its own error listener from an upgraded socket; a peer that resets before reading
  // the answer must not crash the worker, and there is nobody left to tell.
  socket.on('error', ignoreError);
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n` +
      body,
  );
}

function ignoreError(): void {}
