/**
 * What the data plane hands the upstream client (one request to one backend) and what it gets
 * back (callbacks, in the order of the exchange), plus the client's own errors.
 */
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

export interface UpstreamRequest {
  readonly method: string;
  /** Origin-form target, already normalised. */
  readonly path: string;
  /**
   * Flat `[name, value, ...]`, hop-by-hop headers already removed. Every name and value comes
   * from node's strict parser (no CR, LF or NUL can be in them) or from VeloFlux itself, so they
   * are written as they are. Host is added from the backend's origin when absent (HTTP/1.0).
   */
  readonly headers: readonly string[];
  /** The request body, streamed with backpressure; null when there is none. */
  readonly body: Readable | null;
  /** The declared Content-Length (it is in `headers`); -1: sent chunked; 0: no body. */
  readonly contentLength: number;
  /**
   * A protocol to switch to (`websocket`): sent as `Upgrade` with `Connection: Upgrade`; a 101
   * answer hands the connection itself to the handler (onUpgrade), any other answer is an
   * ordinary response. The connection is never reused after an upgrade request.
   */
  readonly upgrade?: string;
  /**
   * Where the body's trailers are once it has ended (node's request, whose `trailers` fill in as
   * the client's trailing HEADERS arrive). Only the h2 client sends them (RFC 9113 §8.1: gRPC
   * clients may end a stream with trailers); the HTTP/1.1 client sends none.
   */
  readonly trailerSource?: { readonly trailers: Record<string, string | string[] | undefined> };
}

/** What the exchange dispatches to: one backend's upstream client, HTTP/1.1 (UpstreamPool) or h2 (H2UpstreamPool). */
export interface UpstreamDispatcher {
  readonly origin: string;
  /** Sends `request`; the outcome reaches `handler` (see UpstreamHandler). */
  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void;
  /** No new calls; those queued or running finish; resolves once every connection is closed. */
  close(): Promise<void>;
  /** Closes every connection now; calls queued or running fail. */
  destroy(): void;
}

/** What the handler can do to its call. */
export interface UpstreamController {
  /** Cancels the call; onError follows at once with `reason` (UPSTREAM_ABORTED without one). */
  abort(reason?: Error): void;
  /** Reads on after onHeaders or onData returned false. */
  resume(): void;
}

/** The data plane's side of one call; the client calls these, never after onComplete or onError. */
export interface UpstreamHandler {
  /** Called once, at dispatch, with the call's controller. */
  onConnect(upstream: UpstreamController): void;
  /**
   * The final response head (1xx are not reported). Returning false stops reading from the
   * backend until `resume()`; what was already read is still delivered.
   */
  onHeaders(status: number, headers: string[]): boolean;
  /** A piece of the response body (de-chunked). Returning false: as for onHeaders. */
  onData(chunk: Buffer): boolean;
  /** The response is complete; `trailers` (flat `[name, value, ...]`) when its chunked body ended with some. */
  onComplete(trailers?: string[]): void;
  onError(err: Error): void;
  /** Request body bytes written to the backend (without chunk framing). */
  onBodySent(bytes: number): void;
  /**
   * The backend switched protocols (101) for an upgrade request: the socket is the handler's
   * from now on (the pool has let go of it), with `head` the bytes read past the 101 head.
   * Nothing else is reported for this call.
   */
  onUpgrade(headers: string[], socket: Socket, head: Buffer): void;
}

/** Why a call failed on the client's side (system errors such as ECONNREFUSED pass through as they are). */
export type UpstreamErrorCode =
  /** No TCP (and TLS) connection within the connect timeout. */
  | 'UPSTREAM_CONNECT_TIMEOUT'
  /** No response byte (head or body) for the response timeout. */
  | 'UPSTREAM_RESPONSE_TIMEOUT'
  /** The backend closed the connection before the response was complete. */
  | 'UPSTREAM_CLOSED'
  /** Not a valid HTTP/1.1 response for this request (101 when no upgrade was asked, bytes when none was asked). */
  | 'UPSTREAM_BAD_RESPONSE'
  /** The pool was closed (its backend was removed or changed) before the call could run. */
  | 'UPSTREAM_POOL_CLOSED'
  /** The pool was destroyed (the drain deadline passed) while the call ran: the backend may have acted on it. */
  | 'UPSTREAM_POOL_DESTROYED'
  /** `abort()` without a reason. */
  | 'UPSTREAM_ABORTED'
  /** A tenant's backend resolved to an address its backend address policy refuses: nothing was connected to. */
  | 'UPSTREAM_ADDRESS_DENIED';

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  constructor(
    readonly code: UpstreamErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Who runs calls: the pool, which knows whether a call is still queued or on a connection. */
export interface CallOwner {
  abortCall(call: UpstreamCall, reason: Error): void;
}

/** RFC 9110 §9.2.2: requests that may be sent again automatically. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** The connection a call runs on, as the call sees it. */
interface CallRunner {
  abortCall(call: UpstreamCall, reason: Error): void;
  resumeCall(call: UpstreamCall): void;
}

/**
 * One request's trip through the client: queued, then on a connection, then finished exactly
 * once. It is also the handler's controller, so a call costs no closures.
 */
export class UpstreamCall implements UpstreamController {
  /** The connection running the call, once it left the queue. */
  connection: CallRunner | undefined = undefined;
  /** Set once the call has reported onComplete or onError: nothing more is reported. */
  finished = false;
  /** Sent again on a new connection after a reused one was found closed (once at most). */
  replayed = false;
  /** In the pool's queue, waiting for a connection (see CallQueue). */
  waiting = false;
  readonly #owner: CallOwner;

  constructor(
    readonly request: UpstreamRequest,
    readonly handler: UpstreamHandler,
    owner: CallOwner,
  ) {
    this.#owner = owner;
  }

  abort(reason?: Error): void {
    if (!this.finished) this.#owner.abortCall(this, reason ?? new UpstreamError('UPSTREAM_ABORTED', 'the call was aborted'));
  }

  resume(): void {
    if (!this.finished) this.connection?.resumeCall(this);
  }

  complete(trailers?: string[]): void {
    if (this.finished) return;
    this.finished = true;
    this.handler.onComplete(trailers);
  }

  fail(err: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.handler.onError(err);
  }

  upgraded(headers: string[], socket: Socket, head: Buffer): void {
    if (this.finished) return void socket.destroy();
    this.finished = true;
    this.handler.onUpgrade(headers, socket, head);
  }
}
