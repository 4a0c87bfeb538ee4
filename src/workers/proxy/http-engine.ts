/**
 * The front-end engine adapter: a node:http server (llhttp, strict by default), or node:https
 * with the same handling for TLS, configured from the static config. Kept behind this small
 * surface so a faster engine can replace it without touching routing, balancing or the
 * exchange (DESIGN.md §3).
 *
 * Pipelining: node parses every request it has bytes for and emits them at once, while earlier
 * responses on the connection are still being written. This adapter hands a request to the
 * proxy only when its turn comes (node gives its response the socket) and the connection is
 * still open, so nothing read after a response that closes the connection (a 400, a client's
 * `close`) ever reaches an upstream, and a parse error found behind requests still being
 * answered is reported after them, in order (RFC 9112 §9.3.2, §9.6).
 */
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ServerConfig } from '../../shared/config/schema.js';
import type { ErrorCode } from '../../shared/errors.js';
import { writeRawError } from './error-response.js';
import { headerCheckInterval } from '../../shared/http/head-timeout.js';
import { alpnProtocols, MIN_TLS_VERSION, type CertificateStore } from '../runtime/tls-certificates.js';

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;
/** A request with `Connection: upgrade`: node hands over the raw socket and the bytes read past the head. */
export type UpgradeListener = (req: IncomingMessage, socket: Socket, head: Buffer) => void;

const kParseError = Symbol('veloflux.parseError');

/** node's own (undocumented, long-stable) link from a socket to the response it is writing. */
type EngineSocket = Duplex & {
  _httpMessage?: ServerResponse | null;
  /** Set once the parser failed on this connection: nothing read after that is handled. */
  [kParseError]?: ErrorCode;
};

export function createHttpEngine(server: ServerConfig, onRequest: RequestListener, onUpgrade: UpgradeListener): Server {
  return attachHandlers(createServer(httpOptions(server), inTurn(onRequest)), onUpgrade, server);
}

/**
 * The same engine behind TLS (node:https is node:http over a TLS socket): the same parser
 * options, request, upgrade and error handling. The served certificate is chosen per connection
 * by SNI from `certificates()`, read at handshake time, so a reload swaps certificates for new
 * connections without a restart; `setSecureContext` (by the caller) covers clients without SNI.
 * With `server.https.http2` enabled, h2 is offered first and Http2Engine takes those connections.
 */
export function createHttpsEngine(server: ServerConfig, certificates: () => CertificateStore, onRequest: RequestListener, onUpgrade: UpgradeListener): HttpsServer {
  const options: HttpsServerOptions = {
    ...httpOptions(server),
    ...certificates().defaultOptions,
    minVersion: MIN_TLS_VERSION,
    ALPNProtocols: alpnProtocols(server.https?.http2.enabled === true),
    // A client that stalls in the handshake is held no longer than one that stalls in its head.
    handshakeTimeout: server.timeouts.clientHeader,
    SNICallback: (servername, done) => done(null, certificates().select(servername)),
  };
  const engine = attachHandlers(createHttpsServer(options, inTurn(onRequest)), onUpgrade, server);
  // Failed handshakes (old protocol versions, no common ALPN, scanners) only close that socket.
  engine.on('tlsClientError', (_err: Error, socket: Duplex) => socket.destroy());
  return engine;
}

function httpOptions(server: ServerConfig): ServerOptions {
  return {
    maxHeaderSize: server.limits.maxHeaderSize,
    // Slowloris: the whole request head must arrive within this.
    headersTimeout: server.timeouts.clientHeader,
    // node only looks for expired heads on this tick (see head-timeout.ts).
    connectionsCheckingInterval: headerCheckInterval(server.timeouts.clientHeader),
    // Uploads are bounded by the proxy's own per-pool deadline, not by node's 300 s default.
    requestTimeout: 0,
    keepAliveTimeout: server.timeouts.clientKeepAlive,
    // Missing Host is still a 400 (RFC 9112 §3.2), answered by parseRequestHead: node's own
    // check replies with an empty body instead of the JSON error.
    requireHostHeader: false,
    joinDuplicateHeaders: false,
    noDelay: true,
  };
}

/** Hands a request to the proxy only when its turn on the connection comes (see the top). */
function inTurn(onRequest: RequestListener): RequestListener {
  return (req, res) => {
    const socket = res.socket;
    // Pipelined behind a response still in flight: node assigns the socket when that one is
    // done, and never does when it closed the connection.
    if (socket === null) return void res.once('socket', () => onTurn(req, res, onRequest));
    // An earlier response already closed the connection (its request had an unread body, so
    // node finished it before parsing on), yet node still emits what follows: drop it.
    if (!socket.writable) return;
    onRequest(req, res);
  };
}

function attachHandlers<T extends Server | HttpsServer>(engine: T, onUpgrade: UpgradeListener, server: ServerConfig): T {
  // One field more than allowed is kept, so the handler sees that there were too many (431).
  engine.maxHeadersCount = server.limits.maxHeaderCount + 1;
  engine.on('upgrade', onUpgrade);
  engine.on('clientError', answerClientError);
  // CONNECT is a forward-proxy feature; a reverse proxy refuses it instead of tunnelling.
  engine.on('connect', (_req: IncomingMessage, socket: Duplex) => writeRawError(socket, 'VF_ERR_METHOD_NOT_ALLOWED'));
  return engine;
}


/** A pipelined request's turn: handled, unless the parser failed inside its own body. */
function onTurn(req: IncomingMessage, res: ServerResponse, onRequest: RequestListener): void {
  const socket = req.socket as EngineSocket;
  if (!socket.writable) return;
  const failure = socket[kParseError];
  if (failure === undefined || req.complete) return onRequest(req, res);
  writeRawError(socket, failure);
}

/** Parser errors (bad framing, oversized head, timeouts) get a status and the connection is closed. */
function answerClientError(err: Error & { code?: string }, duplex: Duplex): void {
  const socket = duplex as EngineSocket;
  // node reports the error again for every later read; the first one decided.
  if (socket[kParseError] !== undefined) return;
  if (err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const code: ErrorCode =
    err.code === 'HPE_HEADER_OVERFLOW' ? 'VF_ERR_HEADERS_TOO_LARGE' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT' ? 'VF_ERR_CLIENT_TIMEOUT' : 'VF_ERR_BAD_REQUEST';
  socket[kParseError] = code;
  const inFlight = socket._httpMessage;
  if (inFlight != null && inFlight.req.complete) {
    // The error is in a later pipelined request: earlier ones are answered first.
    answerAfterInFlight(socket, code);
    return;
  }
  // The error is in the body of the request being answered (or there is none): answer now, or
  // cut the connection if its response already started, so it cannot pass for a whole one.
  if (!socket.writable || inFlight?.headersSent === true) {
    socket.destroy();
    return;
  }
  writeRawError(socket, code);
}

function answerAfterInFlight(socket: EngineSocket, code: ErrorCode): void {
  const inFlight = socket._httpMessage;
  if (inFlight != null) {
    // 'close' also fires when the response is destroyed; by then node has moved on to the next.
    inFlight.once('close', () => answerAfterInFlight(socket, code));
    return;
  }
  // Nothing left to answer; a response that closed the connection already ended it (the data
  // after a `Connection: close` request is simply ignored).
  if (socket.writable) writeRawError(socket, code);
}
