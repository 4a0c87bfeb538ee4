/** Error answers from the proxy itself: the JSON body from the catalogue, bodies built once. */
import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import type { Duplex } from 'node:stream';
import { ERRORS, errorBody, type ErrorCode } from '../../shared/errors.js';
import { endResponse } from './http2-connection.js';

const BODIES = new Map<ErrorCode, string>(Object.keys(ERRORS).map((code) => [code as ErrorCode, errorBody(code as ErrorCode)]));
const NO_HEADERS: readonly string[] = [];

/**
 * `close` ends the connection after the answer: after a framing error nothing more read from
 * the socket can be trusted, and an unread request body is not worth draining. `extraHeaders`
 * (a flat `[name, value, ...]` list, e.g. a 429's Retry-After) are added to the answer.
 */
export function sendError(res: ServerResponse, code: ErrorCode, close: boolean, extraHeaders: readonly string[] = NO_HEADERS): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const req = res.req;
  if (close && req !== undefined && !req.complete && res.socket !== null) {
    // The client is still sending a body we will not read: node would destroy the socket right
    // after the answer and the client's next write would draw a reset that discards the answer
    // unread. Answer on the socket, half-close, and discard what still arrives (lingering close).
    req.resume();
    writeRawError(res.socket, code, extraHeaders);
    return;
  }
  const body = BODIES.get(code)!;
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  };
  if (close) headers.connection = 'close';
  for (let i = 0; i < extraHeaders.length; i += 2) headers[extraHeaders[i]!] = extraHeaders[i + 1]!;
  res.writeHead(ERRORS[code].status, headers);
  res.end(body);
}

/**
 * The same answer on an HTTP/2 stream: never a connection to close (other streams share it);
 * a request body still arriving is refused by RST_STREAM after the answer (endResponse).
 */
export function sendStreamError(res: Http2ServerResponse, code: ErrorCode, extraHeaders: readonly string[] = NO_HEADERS): void {
  if (res.headersSent || res.stream.destroyed) {
    res.stream.destroy();
    return;
  }
  const body = BODIES.get(code)!;
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  };
  for (let i = 0; i < extraHeaders.length; i += 2) headers[extraHeaders[i]!] = extraHeaders[i + 1]!;
  res.writeHead(ERRORS[code].status, headers);
  endResponse(res, body);
}

/**
 * After an answer written on the raw socket, how long a client that keeps its side open may
 * linger (nginx's lingering_timeout): node does not destroy a half-closed socket itself.
 */
const LINGER_MS = 5000;

/**
 * Ends the connection with the error (a FIN, not a reset, so the client reads the answer even
 * when it has sent more), then destroys it if the client has not closed its side by LINGER_MS.
 */
export function writeRawError(socket: Duplex, code: ErrorCode, extraHeaders: readonly string[] = NO_HEADERS): void {
  const body = BODIES.get(code)!;
  const { status, message } = ERRORS[code];
  let extra = '';
  for (let i = 0; i < extraHeaders.length; i += 2) extra += `${extraHeaders[i]}: ${extraHeaders[i + 1]}\r\n`;
  answerAndLinger(socket, `HTTP/1.1 ${status} ${message}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\n${extra}connection: close\r\n\r\n${body}`);
}

/** Writes a whole response (head and body), half-closes, and destroys the socket after LINGER_MS. */
export function answerAndLinger(socket: Duplex, response: string): void {
  socket.end(response);
  const linger = setTimeout(() => socket.destroy(), LINGER_MS).unref();
  socket.once('close', () => clearTimeout(linger));
}
