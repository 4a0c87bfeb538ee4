/**
 * The front-end engine adapter: a node:http server (llhttp, strict by default) configured from
 * the static config. Kept behind this small surface so a faster engine can replace it without
 * touching routing, balancing or the exchange (DESIGN.md §3).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ServerConfig } from '../shared/config/schema.js';
import { ERRORS, errorBody, type ErrorCode } from '../shared/errors.js';

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export function createHttpEngine(server: ServerConfig, onRequest: RequestListener): Server {
  const engine = createServer(
    {
      maxHeaderSize: server.limits.maxHeaderSize,
      // Slowloris: the whole request head must arrive within this.
      headersTimeout: server.timeouts.clientHeader,
      // Uploads are bounded by the proxy's own per-pool deadline, not by node's 300 s default.
      requestTimeout: 0,
      keepAliveTimeout: server.timeouts.clientKeepAlive,
      requireHostHeader: true,
      joinDuplicateHeaders: false,
      noDelay: true,
    },
    onRequest,
  );
  engine.on('clientError', answerClientError);
  // CONNECT is a forward-proxy feature; a reverse proxy refuses it instead of tunnelling.
  engine.on('connect', (_req: IncomingMessage, socket: Duplex) => writeRawError(socket, 'VF_ERR_METHOD_NOT_ALLOWED'));
  return engine;
}

/** Parser errors (bad framing, oversized head, timeouts) get a status and the connection is closed. */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable || (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  const code: ErrorCode =
    err.code === 'HPE_HEADER_OVERFLOW' ? 'VF_ERR_HEADERS_TOO_LARGE' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT' ? 'VF_ERR_CLIENT_TIMEOUT' : 'VF_ERR_BAD_REQUEST';
  if (err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  writeRawError(socket, code);
}

function writeRawError(socket: Duplex, code: ErrorCode): void {
  const body = errorBody(code);
  const { status } = ERRORS[code];
  socket.end(
    `HTTP/1.1 ${status} ${ERRORS[code].message}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
