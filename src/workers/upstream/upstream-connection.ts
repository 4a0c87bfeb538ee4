/**
 * One keep-alive HTTP/1.1 connection to a backend, running one call at a time (no pipelining):
 * writes the request head in one write (with the body's first bytes when there is a body),
 * streams the body, parses the response with node's
 * llhttp (strict) and hands head and body to the call's handler with backpressure.
 *
 * A connection is reused only when it is certainly between messages: the response was complete
 * and framed, the whole request body was written, the backend did not say `close`, and nothing
 * else arrived with the response. Anything unexpected (bytes while idle, a second response in
 * the same read, a parse error) closes it, so one response can never be taken for another's.
 *
 * Timeouts run on the worker's one coarse wheel rather than a timer per call: connect while
 * connecting, response silence while a call runs (refreshed by every byte either way, suspended
 * while the client is not reading), keep-alive while idle.
 *
 * An upgrade request (a WebSocket handshake) runs like any call until its answer: a 101 hands
 * the socket, detached from this connection and its pool, to the handler; anything else is an
 * ordinary response, after which the connection is closed rather than reused.
 */
import { connect as netConnect, type LookupFunction, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { DeadlineWheel, Expirable } from '../deadline-wheel.js';
import { RequestBodyWriter } from './request-body-writer.js';
import { createResponseParser, type ResponseEvents, type ResponseParser } from './response-parser.js';
import { IDEMPOTENT_METHODS, UpstreamError, type UpstreamCall, type UpstreamRequest } from './upstream-call.js';

/** Where and how to connect; https:// backends carry their TLS settings. */
export interface ConnectTarget {
  readonly host: string;
  readonly port: number;
  /** The Host header sent when the request has none (HTTP/1.0 clients). */
  readonly hostHeader: string;
  readonly tls?: { readonly ca: string | undefined; readonly servername: string | undefined; readonly rejectUnauthorized: boolean };
  /** Resolves the host for a tenant's backend, refusing what its address policy refuses (address-guard.ts). */
  readonly lookup?: LookupFunction;
}

export interface ConnectionTimeouts {
  readonly connectMs: number;
  readonly responseMs: number;
  readonly keepAliveMs: number;
}

/** The pool's side: it hands out calls and keeps idle connections. */
export interface ConnectionOwner {
  /** Connected, or done with a call and reusable: give it the next call or keep it idle. */
  connectionReady(connection: UpstreamConnection): void;
  /** Gone for good; `connectError` when it never connected. */
  connectionClosed(connection: UpstreamConnection, connectError: Error | undefined): void;
  /** Runs `call` again on another connection, ahead of the queue (see #connectionLost). */
  replay(call: UpstreamCall): void;
}

/** undici's default limit for a response head, kept so backends see no change. */
const MAX_RESPONSE_HEADER_SIZE = 16 * 1024;

type State = 'connecting' | 'idle' | 'busy' | 'closed';

export class UpstreamConnection implements Expirable, ResponseEvents {
  deadline: number;
  previousOnWheel: Expirable | undefined = undefined;
  nextOnWheel: Expirable | undefined = undefined;

  #state: State = 'connecting';
  readonly #socket: Socket;
  readonly #parser: ResponseParser;
  readonly #owner: ConnectionOwner;
  readonly #target: ConnectTarget;
  readonly #timeouts: ConnectionTimeouts;
  readonly #wheel: DeadlineWheel;

  // The call in progress and what is known about it.
  #call: UpstreamCall | undefined;
  #body: RequestBodyWriter | undefined;
  #requestSent = false;
  #responseDone = false;
  /** The response head arrived (its handler was told). */
  #headSeen = false;
  /** Some byte of the answer to the current call arrived. */
  #answerStarted = false;
  /** Calls this connection completed: above 0 it is a reused keep-alive connection. */
  #served = 0;
  /** The last head was a 1xx: its message end is not the response's. */
  #informational = false;
  #keepAlive = false;
  #skipBody = false;
  /** The handler asked to stop reading until it calls resume. */
  #paused = false;
  /** Inside parser.execute: the parser must not be closed under itself. */
  #parsing = false;
  /** Something arrived that belongs to no call: close once the parser returns. */
  #broken = false;
  /** Inside onHeaders/onData, and whether the handler called resume() there. */
  #inHandler = false;
  #resumedInHandler = false;
  /** The backend answered an upgrade request with 101: the socket goes to the handler once the parser returns. */
  #switched: string[] | undefined;

  constructor(owner: ConnectionOwner, target: ConnectTarget, timeoutsMs: ConnectionTimeouts, wheel: DeadlineWheel) {
    this.#owner = owner;
    this.#target = target;
    this.#timeouts = timeoutsMs;
    this.#wheel = wheel;
    this.#parser = createResponseParser(this, MAX_RESPONSE_HEADER_SIZE);
    const { tls } = target;
    this.#socket =
      tls === undefined
        ? netConnect({ host: target.host, port: target.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000, ...(target.lookup === undefined ? {} : { lookup: target.lookup }) })
        : tlsConnect({
            host: target.host,
            port: target.port,
            ...(target.lookup === undefined ? {} : { lookup: target.lookup }),
            // No SNI for an IP address: the certificate is then checked against that IP (RFC 6066 §3).
            ...(tls.servername === undefined ? {} : { servername: tls.servername }),
            ...(tls.ca === undefined ? {} : { ca: tls.ca }),
            rejectUnauthorized: tls.rejectUnauthorized,
            ALPNProtocols: ['http/1.1'],
          })
            .setNoDelay(true)
            .setKeepAlive(true, 60_000);
    this.#socket.on(tls === undefined ? 'connect' : 'secureConnect', this.#onConnected);
    this.#socket.on('data', this.#onData);
    this.#socket.on('end', this.#onEnd);
    this.#socket.on('error', this.#onError);
    this.#socket.on('close', this.#onClose);
    this.#socket.on('drain', this.#onDrain);
    this.deadline = performance.now() + timeoutsMs.connectMs;
    wheel.add(this);
  }

  /** Starts `call` on this connection (connected and idle). */
  run(call: UpstreamCall): void {
    this.#state = 'busy';
    this.#call = call;
    call.connection = this;
    // A fresh parser state per call: bytes a backend sent after its last response (a partial
    // head in the same read) are dropped here instead of being read as this call's response.
    this.#parser.reset();
    this.#responseDone = false;
    this.#headSeen = false;
    this.#answerStarted = false;
    this.#informational = false;
    this.#keepAlive = false;
    this.#paused = false;
    this.#switched = undefined;
    const { request } = call;
    this.#skipBody = request.method === 'HEAD';
    const chunked = request.contentLength === -1;
    const head = requestHead(request, this.#target.hostHeader, chunked);
    this.deadline = performance.now() + this.#timeouts.responseMs;
    if (request.body === null) {
      this.#requestSent = true;
      this.#socket.write(head, 'latin1');
      return;
    }
    this.#requestSent = false;
    this.#body = new RequestBodyWriter(head, request.body, this.#socket, chunked, {
      onSent: (bytes) => {
        if (this.#call !== call) return;
        this.deadline = performance.now() + this.#timeouts.responseMs;
        call.handler.onBodySent(bytes);
      },
      onEnd: () => {
        if (this.#call !== call) return;
        this.#requestSent = true;
        this.#body = undefined;
      },
      onError: (err) => {
        if (this.#call === call) this.#failCall(err);
      },
    });
  }

  /** The call's handler gave up on it (retry elsewhere, deadline, client gone). */
  abortCall(call: UpstreamCall, reason: Error): void {
    if (this.#call === call) this.#failCall(reason);
  }

  /** Closes the connection; a call still on it fails with `reason`. */
  close(reason: Error = new UpstreamError('UPSTREAM_POOL_CLOSED', 'the upstream pool was closed')): void {
    if (this.#state === 'closed') return;
    if (this.#call !== undefined) this.#failCall(reason);
    this.#shutDown(undefined);
  }

  // Parser events (ResponseEvents).

  onHead(status: number, headers: string[], keepAlive: boolean): boolean {
    const call = this.#call;
    if (call === undefined || this.#headSeen) {
      this.#broken = true;
      return true;
    }
    if (status === 101) {
      // The parser stops after a 101 head: what follows is the new protocol's (RFC 9110 §15.2.2).
      if (call.request.upgrade !== undefined) this.#switched = headers;
      else this.#failCall(new UpstreamError('UPSTREAM_BAD_RESPONSE', 'the backend switched protocols unasked (101)'));
      return true;
    }
    if (status < 200) {
      // Interim answers (100, 103): skipped.
      this.#informational = true;
      return true;
    }
    this.#headSeen = true;
    this.#keepAlive = keepAlive;
    this.deadline = performance.now() + this.#timeouts.responseMs;
    this.#inHandler = true;
    this.#resumedInHandler = false;
    const proceed = call.handler.onHeaders(status, headers);
    this.#inHandler = false;
    if (!proceed) this.#handlerDeclined(call);
    return this.#skipBody;
  }

  onBody(chunk: Buffer): void {
    const call = this.#call;
    if (call === undefined) return;
    if (!this.#paused) this.deadline = performance.now() + this.#timeouts.responseMs;
    this.#inHandler = true;
    this.#resumedInHandler = false;
    const proceed = call.handler.onData(chunk);
    this.#inHandler = false;
    if (!proceed) this.#handlerDeclined(call);
  }

  onMessageComplete(trailers: string[] | undefined): void {
    if (this.#switched !== undefined) return;
    if (this.#informational) {
      this.#informational = false;
      return;
    }
    const call = this.#call;
    if (call === undefined) return;
    this.#responseDone = true;
    this.#served++;
    this.#call = undefined;
    // Answered before the whole body was sent (an early 413, say): the rest cannot be sent now.
    if (!this.#requestSent) this.#keepAlive = false;
    // A backend that declined an upgrade may still read what follows as the new protocol.
    if (call.request.upgrade !== undefined) this.#keepAlive = false;
    this.#body?.stop();
    this.#body = undefined;
    call.complete(trailers);
  }

  // Wheel (Expirable).

  expire(): void {
    if (this.#state === 'closed') return;
    if (this.deadline > performance.now()) {
      this.#wheel.add(this);
      return;
    }
    if (this.#state === 'connecting') {
      return this.#shutDown(new UpstreamError('UPSTREAM_CONNECT_TIMEOUT', `no connection to ${this.#target.hostHeader} within ${this.#timeouts.connectMs} ms`));
    }
    if (this.#state === 'busy') {
      this.#failCall(new UpstreamError('UPSTREAM_RESPONSE_TIMEOUT', `no response from ${this.#target.hostHeader} for ${this.#timeouts.responseMs} ms`));
    }
    this.#shutDown(undefined);
  }

  // Socket events.

  readonly #onConnected = (): void => {
    if (this.#state !== 'connecting') return;
    this.#becomeReady();
  };

  readonly #onData = (data: Buffer): void => {
    if (this.#call === undefined) {
      // Bytes nobody asked for (while idle): the connection's framing can no longer be trusted.
      return this.#shutDown(undefined);
    }
    this.#answerStarted = true;
    this.#parsing = true;
    const result = this.#parser.execute(data);
    this.#parsing = false;
    if (this.#state === 'closed') return this.#parser.close();
    if (typeof result !== 'number') {
      this.#failCall(result.code === 'HPE_HEADER_OVERFLOW' ? new UpstreamError('UPSTREAM_BAD_RESPONSE', 'the response head is too large') : result);
      return this.#shutDown(undefined);
    }
    if (this.#broken) return this.#shutDown(undefined);
    if (this.#switched !== undefined) return this.#handOver(data.subarray(result));
    if (this.#responseDone) this.#release();
  };

  readonly #onEnd = (): void => {
    if (this.#call !== undefined) {
      // A body that runs to the end of the connection completes here; anything else was cut short.
      this.#parser.finish();
      if (this.#call !== undefined) {
        this.#connectionLost(new UpstreamError('UPSTREAM_CLOSED', this.#headSeen ? 'the backend closed the connection mid-response' : 'the backend closed the connection before responding'));
      }
    }
    this.#shutDown(undefined);
  };

  readonly #onError = (err: Error): void => {
    if (this.#state === 'connecting') return this.#shutDown(err);
    this.#connectionLost(err);
    this.#shutDown(undefined);
  };

  readonly #onClose = (): void => {
    if (this.#state === 'closed') return;
    if (this.#state === 'connecting') return this.#shutDown(new UpstreamError('UPSTREAM_CLOSED', 'the connection closed while connecting'));
    this.#connectionLost(new UpstreamError('UPSTREAM_CLOSED', 'the backend closed the connection'));
    this.#shutDown(undefined);
  };

  /**
   * The connection ended (closed, reset) while a call was on it. On a reused connection with no
   * byte of an answer yet, this is almost always the keep-alive race: the backend closed the idle
   * connection as the request went out, so it never saw the request. An idempotent request
   * without a body is then sent again, once, on another connection, as nginx does for a failed
   * cached connection; anything else fails (and the exchange decides about other backends).
   */
  #connectionLost(err: Error): void {
    const call = this.#call;
    if (call === undefined) return;
    const { request } = call;
    if (this.#served > 0 && !this.#answerStarted && !call.replayed && request.body === null && IDEMPOTENT_METHODS.has(request.method)) {
      call.replayed = true;
      call.connection = undefined;
      this.#call = undefined;
      this.#shutDown(undefined);
      this.#owner.replay(call);
      return;
    }
    this.#failCall(err);
  }

  readonly #onDrain = (): void => {
    this.#body?.resume();
  };

  /** The handler reads on (after returning false); a resume from inside its callback cancels that pause. */
  resumeCall(call: UpstreamCall): void {
    if (this.#call !== call) return;
    if (this.#inHandler) {
      this.#resumedInHandler = true;
      return;
    }
    if (!this.#paused) return;
    this.#paused = false;
    this.deadline = performance.now() + this.#timeouts.responseMs;
    this.#socket.resume();
  }

  /** The handler returned false from onHeaders or onData. */
  #handlerDeclined(call: UpstreamCall): void {
    if (this.#call === call && !this.#resumedInHandler) this.#pause();
  }

  #pause(): void {
    this.#paused = true;
    // A client that reads slowly is not a silent backend: the exchange's own deadline bounds it.
    this.deadline = Number.POSITIVE_INFINITY;
    this.#socket.pause();
  }

  /** The response is complete and the parser has returned: reuse the connection if it is clean. */
  #release(): void {
    this.#responseDone = false;
    if (!this.#keepAlive || this.#socket.destroyed || !this.#socket.writable) return this.#shutDown(undefined);
    if (this.#paused) {
      this.#paused = false;
      this.#socket.resume();
    }
    this.#becomeReady();
  }

  /**
   * The 101 head is parsed: the socket leaves this connection (its listeners, the wheel, the
   * pool) and goes to the handler with the bytes read past the head.
   */
  #handOver(rest: Buffer): void {
    const call = this.#call!;
    const headers = this.#switched!;
    this.#call = undefined;
    this.#switched = undefined;
    this.#state = 'closed';
    this.#wheel.delete(this);
    const socket = this.#socket;
    socket.off('connect', this.#onConnected).off('secureConnect', this.#onConnected).off('data', this.#onData);
    socket.off('end', this.#onEnd).off('error', this.#onError).off('close', this.#onClose).off('drain', this.#onDrain);
    this.#parser.close();
    this.#owner.connectionClosed(this, undefined);
    call.upgraded(headers, socket, rest);
  }

  #becomeReady(): void {
    this.#state = 'idle';
    this.deadline = performance.now() + this.#timeouts.keepAliveMs;
    this.#owner.connectionReady(this);
  }

  #failCall(err: Error): void {
    const call = this.#call;
    if (call === undefined) return;
    this.#call = undefined;
    this.#body?.stop();
    this.#body = undefined;
    call.fail(err);
    // Mid-exchange: whatever the backend still sends belongs to this call, so it is never reused.
    this.#shutDown(undefined);
  }

  #shutDown(connectError: Error | undefined): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#wheel.delete(this);
    this.#socket.destroy();
    if (!this.#parsing) this.#parser.close();
    this.#owner.connectionClosed(this, connectError);
  }
}

/** `METHOD path HTTP/1.1`, the headers, Host when missing, and chunked framing when the body has no length. */
function requestHead(request: UpstreamRequest, hostHeader: string, chunked: boolean): string {
  let head = `${request.method} ${request.path} HTTP/1.1\r\n`;
  let hasHost = false;
  const { headers } = request;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') hasHost = true;
    head += `${name}: ${headers[i + 1]!}\r\n`;
  }
  if (!hasHost) head += `host: ${hostHeader}\r\n`;
  if (request.upgrade !== undefined) head += `connection: Upgrade\r\nupgrade: ${request.upgrade}\r\n`;
  if (chunked) head += 'transfer-encoding: chunked\r\n';
  return `${head}\r\n`;
}
