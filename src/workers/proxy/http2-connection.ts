/**
 * One client's HTTP/2 connection (an nghttp2 session over its TLS socket), for what node's
 * session does not do itself:
 * - idle timeout: closed with GOAWAY once it has had no open stream for `idleMs` (the HTTP/1.1
 *   keep-alive timeout), checked on the worker's deadline wheel, not a timer per stream; a
 *   stream that waits long on its backend keeps it open, as a busy HTTP/1.1 connection is kept;
 * - rapid reset (CVE-2023-44487): every stream the client cancels before its response is
 *   complete may already have cost a backend request, so cancellations are held to a token
 *   bucket (`resetBurst`, then `resetsPerSecond`); past it the connection gets GOAWAY with
 *   ENHANCE_YOUR_CALM and is closed, as nginx and Envoy do. nghttp2's own reset limit in node 20
 *   (1000 and 33/s, not configurable there) is far looser;
 * - SETTINGS timeout (RFC 9113 §6.5.3): node applies the limits we announce (header list size,
 *   concurrent streams) only once the client acknowledges them, so a client that never does
 *   would never be held to them; one that has not within `settingsTimeoutMs` (the client header
 *   timeout) is closed with SETTINGS_TIMEOUT;
 * - shutdown: GOAWAY (open streams finish), or destroyed at the drain deadline.
 */
import { constants, type Http2ServerResponse, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { DeadlineWheel, Expirable } from '../deadline-wheel.js';

const { NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR, NGHTTP2_SETTINGS_TIMEOUT } = constants;

const kConnection = Symbol('veloflux.http2Connection');
/** Set on a stream VeloFlux itself cut short (a backend failed mid-response): not the client's reset. */
const kCutByProxy = Symbol('veloflux.http2CutByProxy');

type TrackedStream = ServerHttp2Stream & { [kConnection]?: Http2Connection; [kCutByProxy]?: boolean };

export interface Http2ConnectionLimits {
  readonly idleMs: number;
  readonly settingsTimeoutMs: number;
  readonly resetBurst: number;
  readonly resetsPerSecond: number;
}

/** Why a connection was closed for misbehaviour (the `reason` label of the metric). */
export type Http2Abuse = 'rapid_reset' | 'settings_timeout' | 'protocol';

export interface Http2ConnectionOwner {
  connectionClosed(connection: Http2Connection): void;
  abuse(reason: Http2Abuse): void;
}

export class Http2Connection implements Expirable {
  deadline = 0;
  previousOnWheel: Expirable | undefined = undefined;
  nextOnWheel: Expirable | undefined = undefined;

  readonly #session: ServerHttp2Session;
  readonly #limits: Http2ConnectionLimits;
  readonly #wheel: DeadlineWheel;
  readonly #owner: Http2ConnectionOwner;
  #open = 0;
  /** Closed by us for misbehaviour: the session's own error event is not counted again. */
  #closedForAbuse = false;
  #resetTokens: number;
  readonly #openedAt = performance.now();
  #refilledAt = this.#openedAt;
  /** When the last stream closed (or the connection opened): the idle timeout counts from here. */
  #idleSince = this.#openedAt;

  constructor(session: ServerHttp2Session, limits: Http2ConnectionLimits, wheel: DeadlineWheel, owner: Http2ConnectionOwner) {
    this.#session = session;
    this.#limits = limits;
    this.#wheel = wheel;
    this.#owner = owner;
    this.#resetTokens = limits.resetBurst;
    session.on('stream', this.#onStream);
    session.on('error', this.#onError);
    session.once('close', this.#onClose);
    this.deadline = this.#openedAt + Math.min(limits.idleMs, limits.settingsTimeoutMs);
    wheel.add(this);
  }

  /** Shutdown: GOAWAY, so the client opens no more streams here; open ones finish. */
  drain(): void {
    if (!this.#session.closed && !this.#session.destroyed) this.#session.close();
  }

  destroy(): void {
    this.#session.destroy();
  }

  readonly #onStream = (stream: TrackedStream): void => {
    // Until the client acknowledges our SETTINGS the wheel keeps watching for the timeout.
    if (this.#open++ === 0 && !this.#session.pendingSettingsAck) this.#wheel.delete(this);
    stream[kConnection] = this;
    stream.on('aborted', onStreamAborted);
    stream.once('close', onStreamClose);
  };

  /**
   * nghttp2 ended the session for a protocol violation or a flood (pings, settings, invalid
   * frames); a socket error (the client vanished) is no misbehaviour.
   */
  readonly #onError = (err: Error & { code?: string }): void => {
    if (this.#closedForAbuse) return;
    if (err.code === 'ERR_HTTP2_ERROR' || err.code === 'ERR_HTTP2_SESSION_ERROR') this.#owner.abuse('protocol');
  };

  readonly #onClose = (): void => {
    this.#wheel.delete(this);
    this.#owner.connectionClosed(this);
  };

  streamClosed(): void {
    if (--this.#open === 0) this.#becomeIdle();
  }

  /** The client reset a stream whose response was not complete. */
  streamCancelled(): void {
    const session = this.#session;
    if (session.destroyed) return;
    const now = performance.now();
    const { resetBurst, resetsPerSecond } = this.#limits;
    this.#resetTokens = Math.min(resetBurst, this.#resetTokens + ((now - this.#refilledAt) / 1000) * resetsPerSecond);
    this.#refilledAt = now;
    if (--this.#resetTokens >= 0) return;
    this.#closeForAbuse('rapid_reset', NGHTTP2_ENHANCE_YOUR_CALM);
  }

  /** GOAWAY with `code`, and the connection is closed at once: open streams are cancelled. */
  #closeForAbuse(reason: Http2Abuse, code: number): void {
    this.#closedForAbuse = true;
    this.#owner.abuse(reason);
    // With an error, `code` goes in the GOAWAY (`destroy(undefined, code)` would send NO_ERROR).
    this.#session.destroy(new Error(`HTTP/2 connection closed: ${reason}`), code);
  }

  #becomeIdle(): void {
    this.#idleSince = performance.now();
    this.deadline = this.#session.pendingSettingsAck ? Math.min(this.#idleSince + this.#limits.idleMs, this.#openedAt + this.#limits.settingsTimeoutMs) : this.#idleSince + this.#limits.idleMs;
    this.#wheel.add(this);
  }

  expire(): void {
    if (this.#session.destroyed || this.#session.closed) return;
    const now = performance.now();
    const { idleMs, settingsTimeoutMs } = this.#limits;
    if (this.#session.pendingSettingsAck) {
      if (now >= this.#openedAt + settingsTimeoutMs) return this.#closeForAbuse('settings_timeout', NGHTTP2_SETTINGS_TIMEOUT);
      this.deadline = this.#open === 0 ? Math.min(this.#idleSince + idleMs, this.#openedAt + settingsTimeoutMs) : this.#openedAt + settingsTimeoutMs;
      if (this.#open !== 0 || now < this.#idleSince + idleMs) return void this.#wheel.add(this);
    }
    if (this.#open !== 0) return;
    if (now >= this.#idleSince + idleMs) return this.drain();
    this.deadline = this.#idleSince + idleMs;
    this.#wheel.add(this);
  }
}

/**
 * Ends a stream whose response cannot be completed (the backend failed or timed out after the
 * head was sent): RST_STREAM with INTERNAL_ERROR, so the client cannot take it for a whole
 * response (RFC 9113 §8.1), and not counted as the client's reset.
 */
export function cutStream(stream: ServerHttp2Stream): void {
  (stream as TrackedStream)[kCutByProxy] = true;
  stream.close(NGHTTP2_INTERNAL_ERROR);
}

/**
 * Ends an h2 response. When the client is still sending a body nobody will read (an error
 * answered early, a backend that answered before reading it all), the stream is then reset with
 * NO_ERROR, which asks the client to stop sending without failing the response (RFC 9113 §8.1);
 * otherwise it would stay half-open, its flow-control window full, until the connection closes.
 */
export function endResponse(res: Http2ServerResponse, body?: string): void {
  if (!res.stream.endAfterHeaders && !res.req.complete) res.stream.once('finish', abandonRequestBody);
  if (body === undefined) res.end();
  else res.end(body);
}

/**
 * A whole answer in one HEADERS frame with END_STREAM (gRPC's Trailers-Only form); a request
 * body still arriving is abandoned as in endResponse.
 */
export function respondAndEnd(res: Http2ServerResponse, headers: Record<string, string>): void {
  const stream = res.stream;
  if (res.headersSent || stream.destroyed || stream.headersSent) return void stream.destroy();
  if (!stream.endAfterHeaders && !res.req.complete) stream.once('finish', abandonRequestBody);
  stream.respond({ ':status': 200, ...headers }, { endStream: true });
}

function abandonRequestBody(this: ServerHttp2Stream): void {
  if (!this.closed) this.close(NGHTTP2_NO_ERROR);
}

function onStreamAborted(this: TrackedStream): void {
  if (this[kCutByProxy] !== true) this[kConnection]?.streamCancelled();
}

function onStreamClose(this: TrackedStream): void {
  this[kConnection]?.streamClosed();
}
