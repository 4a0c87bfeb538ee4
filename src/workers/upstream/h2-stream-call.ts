/**
 * One call on one stream of an upstream h2 session (h2-session.ts): the request head as an h2
 * header list, the body streamed with backpressure (then the client's trailers, when it sent
 * some), the response head, body and trailers handed to the call's handler, as the HTTP/1.1
 * connection does for its one call.
 *
 * - Headers: names lower-cased (RFC 9113 §8.2.1), Host becomes `:authority` (§8.3.1), fields
 *   that only HTTP/1.x uses are left out (§8.2.2), and `te: trailers` is sent (§8.2.2 allows
 *   exactly that) because the proxy does forward trailers: gRPC servers expect it.
 * - Backpressure: a handler that returns false pauses the stream, so nghttp2 stops returning
 *   WINDOW_UPDATEs and the backend's flow-control window closes; a body chunk the stream cannot
 *   take pauses the body until 'drain'.
 * - A gRPC "Trailers-Only" answer (one HEADERS frame with END_STREAM that carries grpc-status,
 *   per the gRPC over HTTP/2 protocol) is handed on as a head plus trailers, which the protocol
 *   allows too; relayed as one head, an h2 client would see its status only in the headers of a
 *   stream that then ends with an empty DATA frame, and grpc-js reads that as a missing status.
 * - Response silence is bounded by the response timeout on the worker's wheel (suspended while
 *   the handler is not reading), as on an HTTP/1.1 connection.
 *
 * Stream and body events reach the call through a symbol on the emitter and module-level
 * listeners, so a call costs no closures.
 */
import { constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type IncomingHttpStatusHeader, type OutgoingHttpHeaders } from 'node:http2';
import type { Readable } from 'node:stream';
import type { DeadlineWheel, Expirable } from '../deadline-wheel.js';
import { UpstreamError, type UpstreamCall } from './upstream-call.js';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM, NGHTTP2_FLAG_END_STREAM } = constants;

/** RFC 9113 §8.2.2: HTTP/1.x connection fields an h2 message must not carry (node refuses them too). */
const NOT_IN_H2 = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'te', 'host']);

/** Trailer fields of gRPC that a Trailers-Only answer carries in its one HEADERS frame. */
const GRPC_TRAILER_FIELDS = new Set(['grpc-status', 'grpc-message', 'grpc-status-details-bin']);

const kCall = Symbol('veloflux.h2StreamCall');
type Tagged<T> = T & { [kCall]?: H2StreamCall };

/** What the stream's session learns from it. */
export interface StreamOwner {
  /** The stream is closed (its slot is free). */
  streamClosed(call: H2StreamCall): void;
  /** A call the backend certainly did not process (REFUSED_STREAM, or beyond a GOAWAY's last stream): sent again elsewhere. */
  replay(call: UpstreamCall): void;
  /** The backend sent GOAWAY and this stream's id is above its last-stream-id (RFC 9113 §6.8). */
  unprocessed(streamId: number): boolean;
}

export interface StreamTarget {
  readonly scheme: 'http' | 'https';
  /** `:authority` when the request has no Host (HTTP/1.0 clients). */
  readonly authority: string;
  readonly responseMs: number;
}

export class H2StreamCall implements Expirable {
  deadline = 0;
  previousOnWheel: Expirable | undefined = undefined;
  nextOnWheel: Expirable | undefined = undefined;

  readonly call: UpstreamCall;
  readonly #owner: StreamOwner;
  readonly #wheel: DeadlineWheel;
  readonly #responseMs: number;
  readonly #stream: Tagged<ClientHttp2Stream>;
  readonly #body: Tagged<Readable> | null;
  #headSeen = false;
  #paused = false;
  #bodyDone = false;
  #trailers: string[] | undefined;
  /** The error the stream reported before it closed (a socket error of the session). */
  #error: Error | undefined;

  constructor(owner: StreamOwner, call: UpstreamCall, session: ClientHttp2Session, target: StreamTarget, wheel: DeadlineWheel) {
    this.call = call;
    this.#owner = owner;
    this.#wheel = wheel;
    this.#responseMs = target.responseMs;
    call.connection = this;
    const { request } = call;
    const body = request.body as Tagged<Readable> | null;
    const stream: Tagged<ClientHttp2Stream> = session.request(h2RequestHeaders(request.method, request.path, request.headers, target), {
      endStream: body === null,
      waitForTrailers: body !== null && request.trailerSource !== undefined,
    });
    this.#stream = stream;
    stream[kCall] = this;
    stream.on('response', onResponse);
    stream.on('trailers', onTrailers);
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onStreamError);
    stream.on('close', onClose);
    this.#body = body;
    if (body !== null) {
      stream.on('wantTrailers', onWantTrailers);
      stream.on('drain', onDrain);
      body[kCall] = this;
      body.on('data', onBodyData);
      body.on('end', onBodyEnd);
      body.on('error', onBodyError);
    }
    this.deadline = performance.now() + this.#responseMs;
    wheel.add(this);
  }

  // CallRunner (the controller's side).

  abortCall(call: UpstreamCall, reason: Error): void {
    if (call !== this.call) return;
    this.#fail(reason);
  }

  resumeCall(call: UpstreamCall): void {
    if (call !== this.call || !this.#paused) return;
    this.#paused = false;
    this.deadline = performance.now() + this.#responseMs;
    this.#stream.resume();
  }

  // Stream events.

  response(headers: IncomingHttpHeaders & IncomingHttpStatusHeader, flags: number): void {
    const call = this.call;
    if (call.finished || this.#headSeen) return;
    this.#headSeen = true;
    this.deadline = performance.now() + this.#responseMs;
    const trailersOnly = (flags & NGHTTP2_FLAG_END_STREAM) !== 0 && headers['grpc-status'] !== undefined;
    const flat: string[] = [];
    for (const name in headers) {
      if (name.charCodeAt(0) === 58 /* : */) continue;
      if (trailersOnly && GRPC_TRAILER_FIELDS.has(name)) {
        (this.#trailers ??= []).push(name, String(headers[name]));
        continue;
      }
      pushField(flat, name, headers[name]);
    }
    if (!call.handler.onHeaders(Number(headers[':status']), flat)) this.#pause();
  }

  trailers(headers: IncomingHttpHeaders): void {
    const flat: string[] = [];
    for (const name in headers) if (name.charCodeAt(0) !== 58) pushField(flat, name, headers[name]);
    this.#trailers = flat;
  }

  data(chunk: Buffer): void {
    const call = this.call;
    if (call.finished) return;
    if (!this.#paused) this.deadline = performance.now() + this.#responseMs;
    if (!call.handler.onData(chunk)) this.#pause();
  }

  end(): void {
    const call = this.call;
    if (call.finished) return;
    // node ends the readable side of every stream when its session dies (the backend went away
    // mid-response): that is no END_STREAM, and 'close' fails the call instead.
    const stream = this.#stream;
    if (stream.rstCode !== NGHTTP2_NO_ERROR || stream.session === undefined || stream.session.destroyed) return;
    if (!this.#headSeen) return this.#fail(new UpstreamError('UPSTREAM_BAD_RESPONSE', 'the backend ended the stream without a response head'));
    this.#wheel.delete(this);
    // The backend answered before the whole request was sent: the rest is not wanted (RFC 9113 §8.1).
    if (!this.#bodyDone && this.#body !== null) {
      this.#stopBody();
      if (!this.#stream.closed) this.#stream.close(NGHTTP2_NO_ERROR);
    }
    call.complete(this.#trailers);
  }

  error(err: Error): void {
    this.#error ??= err;
  }

  closed(): void {
    this.#wheel.delete(this);
    this.#stopBody();
    const stream = this.#stream;
    this.#owner.streamClosed(this);
    const call = this.call;
    if (call.finished) return;
    const { request } = call;
    // RFC 9113 §8.7: a refused stream, or one past a GOAWAY's last stream id, was not processed.
    const unprocessed = stream.rstCode === NGHTTP2_REFUSED_STREAM || (stream.id !== undefined && this.#owner.unprocessed(stream.id));
    if (unprocessed && !this.#headSeen && !call.replayed && request.body === null) {
      call.replayed = true;
      call.connection = undefined;
      return this.#owner.replay(call);
    }
    const system = this.#error as (Error & { code?: string; syscall?: string }) | undefined;
    if (system?.syscall !== undefined) return call.fail(system);
    call.fail(new UpstreamError('UPSTREAM_CLOSED', this.#headSeen ? 'the backend reset the stream mid-response' : `the backend closed the stream before responding (code ${stream.rstCode ?? 'none'})`));
  }

  // Request body.

  bodyData(chunk: Buffer): void {
    if (this.call.finished || this.#stream.destroyed) return;
    this.call.handler.onBodySent(chunk.length);
    this.deadline = performance.now() + this.#responseMs;
    if (!this.#stream.write(chunk)) this.#body!.pause();
  }

  bodyEnd(): void {
    this.#bodyDone = true;
    if (!this.#stream.destroyed) this.#stream.end();
  }

  bodyError(err: Error): void {
    this.#fail(err);
  }

  drain(): void {
    if (!this.#bodyDone) this.#body?.resume();
  }

  wantTrailers(): void {
    const source = this.call.request.trailerSource?.trailers;
    const out: OutgoingHttpHeaders = {};
    if (source !== undefined) {
      for (const name in source) {
        const lower = name.toLowerCase();
        if (!NOT_IN_H2.has(lower) && lower.charCodeAt(0) !== 58 && lower !== 'content-length') out[lower] = source[name];
      }
    }
    // Without fields node ends the stream with an empty DATA frame instead.
    this.#stream.sendTrailers(out);
  }

  // Wheel.

  expire(): void {
    if (this.call.finished) return;
    if (this.deadline > performance.now()) return void this.#wheel.add(this);
    this.#fail(new UpstreamError('UPSTREAM_RESPONSE_TIMEOUT', `no response on the h2 stream for ${this.#responseMs} ms`));
  }

  #pause(): void {
    if (this.call.finished) return;
    this.#paused = true;
    // A client that reads slowly is not a silent backend: the exchange's own deadline bounds it.
    this.deadline = Number.POSITIVE_INFINITY;
    this.#stream.pause();
  }

  /** The call ends here (abort, timeout, a body error): the stream is cancelled (RFC 9113 §8.1). */
  #fail(err: Error): void {
    const call = this.call;
    if (call.finished) return;
    this.#wheel.delete(this);
    this.#stopBody();
    if (!this.#stream.closed) this.#stream.close(NGHTTP2_CANCEL);
    call.fail(err);
  }

  #stopBody(): void {
    const body = this.#body;
    if (body === null || body[kCall] !== this) return;
    body[kCall] = undefined;
    body.off('data', onBodyData).off('end', onBodyEnd).off('error', onBodyError);
  }
}

function h2RequestHeaders(method: string, path: string, headers: readonly string[], target: StreamTarget): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':method': method, ':scheme': target.scheme, ':path': path, ':authority': target.authority };
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    const value = headers[i + 1]!;
    if (name === 'host') out[':authority'] = value;
    if (NOT_IN_H2.has(name)) continue;
    const seen = out[name];
    if (seen === undefined) out[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else out[name] = [String(seen), value];
  }
  out.te = 'trailers';
  return out;
}

function pushField(flat: string[], name: string, value: string | string[] | undefined): void {
  if (value === undefined) return;
  if (Array.isArray(value)) for (const v of value) flat.push(name, v);
  else flat.push(name, value);
}

function onResponse(this: Tagged<ClientHttp2Stream>, headers: IncomingHttpHeaders & IncomingHttpStatusHeader, flags: number): void {
  this[kCall]?.response(headers, flags);
}
function onTrailers(this: Tagged<ClientHttp2Stream>, headers: IncomingHttpHeaders): void {
  this[kCall]?.trailers(headers);
}
function onData(this: Tagged<ClientHttp2Stream>, chunk: Buffer): void {
  this[kCall]?.data(chunk);
}
function onEnd(this: Tagged<ClientHttp2Stream>): void {
  this[kCall]?.end();
}
function onStreamError(this: Tagged<ClientHttp2Stream>, err: Error): void {
  this[kCall]?.error(err);
}
function onClose(this: Tagged<ClientHttp2Stream>): void {
  this[kCall]?.closed();
}
function onWantTrailers(this: Tagged<ClientHttp2Stream>): void {
  this[kCall]?.wantTrailers();
}
function onDrain(this: Tagged<ClientHttp2Stream>): void {
  this[kCall]?.drain();
}
function onBodyData(this: Tagged<Readable>, chunk: Buffer): void {
  this[kCall]?.bodyData(chunk);
}
function onBodyEnd(this: Tagged<Readable>): void {
  this[kCall]?.bodyEnd();
}
function onBodyError(this: Tagged<Readable>, err: Error): void {
  this[kCall]?.bodyError(err);
}
