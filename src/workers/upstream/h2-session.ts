/**
 * One HTTP/2 session from a worker to a backend (node:http2, nghttp2): h2 over TLS negotiated by
 * ALPN for https:// backends, h2c with prior knowledge (RFC 9113 §3.3) for http:// ones. Many
 * calls share it, one stream each (h2-stream-call.ts), up to the backend's
 * SETTINGS_MAX_CONCURRENT_STREAMS.
 *
 * - Connect timeout: the session must be up (TCP, TLS, the backend's SETTINGS) within
 *   `connectMs`, on the worker's wheel; an error before then is a connect error.
 * - GOAWAY (RFC 9113 §6.8): the session takes no new streams (the pool opens another one);
 *   streams up to the last stream id finish; those above it were not processed and may be sent
 *   again (StreamOwner.unprocessed).
 * - Idle: closed (GOAWAY) after `keepAliveMs` without a stream, as an idle HTTP/1.1 connection.
 */
import { connect, type ClientHttp2Session, type SecureClientSessionOptions } from 'node:http2';
import type { LookupFunction } from 'node:net';
import type { DeadlineWheel, Expirable } from '../deadline-wheel.js';
import { UpstreamError, type UpstreamCall } from './upstream-call.js';
import { H2StreamCall, type StreamOwner, type StreamTarget } from './h2-stream-call.js';

export interface H2Target extends StreamTarget {
  /** `http://host:port` or `https://host:port`. */
  readonly origin: string;
  readonly tls?: { readonly ca: string | undefined; readonly servername: string | undefined; readonly rejectUnauthorized: boolean };
  readonly lookup?: LookupFunction;
}

export interface H2Timeouts {
  readonly connectMs: number;
  readonly keepAliveMs: number;
}

export interface SessionOwner {
  /** Connected, or a stream slot freed: queued calls may run. */
  sessionReady(session: H2Session): void;
  /** No more streams here (GOAWAY received or sent): calls still queued need another session. */
  sessionRetired(session: H2Session): void;
  /** Closed; `connectError` when it never connected. */
  sessionClosed(session: H2Session, connectError: Error | undefined): void;
  replay(call: UpstreamCall): void;
}

/** Streams per session when the backend announces no limit (nghttp2 would allow 2^31). */
const DEFAULT_MAX_STREAMS = 100;

type State = 'connecting' | 'ready' | 'retired' | 'closed';

export class H2Session implements Expirable, StreamOwner {
  deadline: number;
  previousOnWheel: Expirable | undefined = undefined;
  nextOnWheel: Expirable | undefined = undefined;

  #state: State = 'connecting';
  readonly #session: ClientHttp2Session;
  readonly #owner: SessionOwner;
  readonly #target: H2Target;
  readonly #timeouts: H2Timeouts;
  readonly #wheel: DeadlineWheel;
  #streams = 0;
  /** Set by a GOAWAY: streams with a higher id were not processed. */
  #lastStreamId = Number.POSITIVE_INFINITY;
  #error: Error | undefined;

  constructor(owner: SessionOwner, target: H2Target, timeouts: H2Timeouts, wheel: DeadlineWheel) {
    this.#owner = owner;
    this.#target = target;
    this.#timeouts = timeouts;
    this.#wheel = wheel;
    const { tls } = target;
    const options: SecureClientSessionOptions = {
      settings: { enablePush: false },
      ...(target.lookup === undefined ? {} : { lookup: target.lookup }),
      ...(tls === undefined
        ? {}
        : {
            // No SNI for an IP address: the certificate is then checked against that IP (RFC 6066 §3).
            ...(tls.servername === undefined ? {} : { servername: tls.servername }),
            ...(tls.ca === undefined ? {} : { ca: tls.ca }),
            rejectUnauthorized: tls.rejectUnauthorized,
            ALPNProtocols: ['h2'],
          }),
    };
    this.#session = connect(target.origin, options);
    this.#session.on('connect', this.#onConnect);
    this.#session.on('goaway', this.#onGoaway);
    this.#session.on('error', this.#onError);
    this.#session.on('close', this.#onClose);
    this.deadline = performance.now() + timeouts.connectMs;
    wheel.add(this);
  }

  /** Connected, not retired, and below the backend's concurrent stream limit. */
  get hasRoom(): boolean {
    if (this.#state !== 'ready' || this.#session.destroyed) return false;
    return this.#streams < (this.#session.remoteSettings.maxConcurrentStreams ?? DEFAULT_MAX_STREAMS);
  }

  get connecting(): boolean {
    return this.#state === 'connecting';
  }

  get streams(): number {
    return this.#streams;
  }

  run(call: UpstreamCall): void {
    this.#streams++;
    this.#wheel.delete(this);
    try {
      new H2StreamCall(this, call, this.#session, this.#target, this.#wheel);
    } catch (err) {
      // node throws synchronously on a session that just went away (ERR_HTTP2_GOAWAY_SESSION).
      this.#streams--;
      call.connection = undefined;
      if (!call.replayed && call.request.body === null) {
        call.replayed = true;
        this.#retire();
        return this.#owner.replay(call);
      }
      call.fail(err as Error);
    }
  }

  /** No new streams; open ones finish, then the session closes. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#retire();
    if (!this.#session.closed) this.#session.close();
  }

  destroy(reason: Error): void {
    this.#error = reason;
    this.#session.destroy();
  }

  // StreamOwner.

  streamClosed(): void {
    this.#streams--;
    if (this.#streams === 0 && this.#state === 'ready') {
      this.deadline = performance.now() + this.#timeouts.keepAliveMs;
      this.#wheel.add(this);
    }
    if (this.#state === 'ready') this.#owner.sessionReady(this);
    else if (this.#state === 'retired' && this.#streams === 0 && !this.#session.closed) this.#session.close();
  }

  replay(call: UpstreamCall): void {
    this.#owner.replay(call);
  }

  unprocessed(streamId: number): boolean {
    return streamId > this.#lastStreamId;
  }

  // Wheel.

  expire(): void {
    if (this.#state === 'closed') return;
    if (this.deadline > performance.now()) return void this.#wheel.add(this);
    if (this.#state === 'connecting') {
      this.#error = new UpstreamError('UPSTREAM_CONNECT_TIMEOUT', `no h2 session to ${this.#target.authority} within ${this.#timeouts.connectMs} ms`);
      return void this.#session.destroy();
    }
    if (this.#streams === 0) this.close();
  }

  // Session events.

  readonly #onConnect = (): void => {
    if (this.#state !== 'connecting') return;
    this.#state = 'ready';
    this.deadline = performance.now() + this.#timeouts.keepAliveMs;
    this.#owner.sessionReady(this);
  };

  readonly #onGoaway = (_code: number, lastStreamId: number): void => {
    this.#lastStreamId = lastStreamId;
    this.#retire();
  };

  readonly #onError = (err: Error): void => {
    this.#error ??= err;
  };

  readonly #onClose = (): void => {
    const wasConnecting = this.#state === 'connecting';
    this.#state = 'closed';
    this.#wheel.delete(this);
    this.#owner.sessionClosed(this, wasConnecting ? (this.#error ?? new UpstreamError('UPSTREAM_CLOSED', 'the h2 session closed while connecting')) : undefined);
  };

  #retire(): void {
    if (this.#state !== 'ready' && this.#state !== 'connecting') return;
    this.#state = 'retired';
    this.#owner.sessionRetired(this);
  }
}
