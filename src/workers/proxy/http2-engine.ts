/**
 * HTTP/2 on the HTTPS listener (RFC 9113), next to HTTP/1.1 on the same port. The TLS server
 * stays the node:https engine (http-engine.ts) and offers `h2` before `http/1.1` by ALPN
 * (RFC 9113 §3.2, RFC 7301); a connection that settles on h2 is handed to a node:http2 server
 * (nghttp2) that never listens itself, and every other connection goes to node:https exactly as
 * before, so HTTP/1.1 clients see no change at all (node's own `allowHTTP1` fallback would serve
 * them through a second, differently configured copy of the HTTP/1.1 server).
 *
 * Each stream reaches the proxy as node's compatibility request/response pair
 * (Http2ServerRequest / Http2ServerResponse), which mirrors node:http's shape in everything the
 * request path uses: method, url (`:path`), rawHeaders, socket (remoteAddress, encrypted), the
 * request body as a Readable; writeHead with a flat header list, write/drain, end, 'close',
 * writableFinished, headersSent. Where HTTP/2 differs (no connection to close after an error,
 * RST_STREAM instead of a cut connection, no connection-specific headers), the exchange asks
 * `req.httpVersionMajor`.
 *
 * Settings announced and session limits come from `server.https.http2`; nghttp2 enforces them
 * (SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_MAX_HEADER_LIST_SIZE, flood limits), and
 * Http2Connection adds what it does not do (idle timeout, rapid reset budget).
 */
import { createServer, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Http2Config, ServerConfig } from '../../shared/config/schema.js';
import type { DeadlineWheel } from '../deadline-wheel.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import { Http2Connection, type Http2Abuse, type Http2ConnectionLimits, type Http2ConnectionOwner } from './http2-connection.js';

export type Http2RequestListener = (req: Http2ServerRequest, res: Http2ServerResponse) => void;

/** Pseudo-header fields a request may carry (:method, :scheme, :authority, :path), besides its headers. */
const PSEUDO_HEADERS = 4;

export class Http2Engine implements Http2ConnectionOwner {
  readonly #server: Http2Server;
  readonly #limits: Http2ConnectionLimits;
  readonly #wheel: DeadlineWheel;
  readonly #telemetry: Telemetry;
  readonly #connections = new Set<Http2Connection>();
  #draining = false;

  constructor(server: ServerConfig, settings: Http2Config, onRequest: Http2RequestListener, wheel: DeadlineWheel, telemetry: Telemetry) {
    this.#wheel = wheel;
    this.#telemetry = telemetry;
    this.#limits = { idleMs: server.timeouts.clientKeepAlive, settingsTimeoutMs: server.timeouts.clientHeader, resetBurst: settings.resetBurst, resetsPerSecond: settings.resetsPerSecond };
    this.#server = createServer(
      {
        settings: {
          maxConcurrentStreams: settings.maxConcurrentStreams,
          maxHeaderListSize: settings.maxHeaderListSize,
          initialWindowSize: settings.initialWindowSize,
          // Extended CONNECT (WebSockets over h2, RFC 8441) is not offered: browsers then open
          // their WebSockets over HTTP/1.1, which the tunnel serves.
          enableConnectProtocol: false,
        },
        maxSessionMemory: settings.maxSessionMemory,
        maxOutstandingPings: settings.maxOutstandingPings,
        maxSettings: settings.maxSettings,
        maxSessionInvalidFrames: settings.maxSessionInvalidFrames,
        maxSessionRejectedStreams: settings.maxSessionRejectedStreams,
        // One field more than allowed still reaches the proxy, which answers 431 as for HTTP/1.1.
        maxHeaderListPairs: server.limits.maxHeaderCount + PSEUDO_HEADERS + 1,
      },
      onRequest,
    );
    this.#server.on('session', this.#onSession);
  }

  /**
   * Takes over the h2 connections of the HTTPS engine. node:https serves every TLS connection
   * from its one 'secureConnection' listener; it is kept and called for everything but h2.
   */
  serve(https: HttpsServer): void {
    const http1 = https.listeners('secureConnection') as ((this: HttpsServer, socket: TLSSocket) => void)[];
    https.removeAllListeners('secureConnection');
    const h2 = this.#server;
    https.on('secureConnection', function dispatchByAlpn(this: HttpsServer, socket: TLSSocket) {
      // An http2 server takes a connection as a net server does; it reads the ALPN result itself.
      if (socket.alpnProtocol === 'h2') h2.emit('connection', socket);
      else for (const listener of http1) listener.call(this, socket);
    });
  }

  /** Shutdown: GOAWAY on every connection (and on any that arrives later). */
  drain(): void {
    this.#draining = true;
    for (const connection of this.#connections) connection.drain();
  }

  /** The drain deadline passed: streams still open are cut. */
  closeAll(): void {
    for (const connection of this.#connections) connection.destroy();
  }

  readonly #onSession = (session: ServerHttp2Session): void => {
    const connection = new Http2Connection(session, this.#limits, this.#wheel, this);
    this.#connections.add(connection);
    if (this.#draining) connection.drain();
  };

  // Http2ConnectionOwner.

  connectionClosed(connection: Http2Connection): void {
    this.#connections.delete(connection);
  }

  abuse(reason: Http2Abuse): void {
    this.#telemetry.requests.count('http2ConnectionsClosed', reason);
  }
}
