/**
 * One proxied request, and the one backend-attempt path of the data plane: plain requests and
 * WebSocket upgrades alike get the same sticky pin, pick, circuit breaker, retries within the
 * budget, outlier reports, latency average, in-flight counts, metrics and access log, over the
 * same upstream connections (TLS verification included) and the same strict response parser.
 *
 * The exchange is the upstream call's handler, the balancer's pick context and the deadline
 * entry, all in one object so a request costs one allocation for its state, not a closure per
 * callback. Bodies stream both ways with backpressure: the client request is handed to the
 * upstream client as a stream, and a response chunk that node cannot write at once pauses the
 * upstream socket until the client drains.
 *
 * A WebSocket upgrade (RFC 6455 §4) is an exchange whose request asks the backend to switch
 * protocols: a 101 with the right Sec-WebSocket-Accept turns the two connections into a tunnel
 * that holds the backend (in-flight, as one connection) until it closes; any other answer is
 * relayed like any response, and a malformed one is a 502 before a byte reaches the client.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { pipeline, type Readable } from 'node:stream';
import { ERRORS, VelofluxError, type ErrorCode } from '../../shared/errors.js';
import { BodyLimit } from './body-limit.js';
import type { BodyCheck } from './body-check.js';
import type { Backend } from '../runtime/backend.js';
import type { PickContext } from '../balancers/balancer.js';
import type { DeadlineWheel, Expirable } from '../deadline-wheel.js';
import { sendError, sendStreamError } from './error-response.js';
import type { PoolRuntime } from '../runtime/pool-runtime.js';
import { IDEMPOTENT_METHODS, type UpstreamController, type UpstreamHandler } from '../upstream/upstream-call.js';
import { HOP_BY_HOP, removeConnectionNominated, type RequestHeadFields } from './request-head.js';
import { classifyUpstreamError } from './upstream-errors.js';
import { cutStream, endResponse } from './http2-connection.js';
import { forwardableTrailers } from './trailers.js';
import { grpcTrailers, isGrpc, parseGrpcTimeout, sendGrpcError } from './grpc-status.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import type { Termination } from '../telemetry/access-log.js';
import { WebSocketTunnel, type TunnelOwner, type TunnelTotals } from '../websocket/websocket-tunnel.js';
import { acceptsWebSocket, switchingProtocolsHead } from '../websocket/websocket-handshake.js';

/** What every exchange of a worker shares: the worker's one timer wheel and its telemetry. */
export interface ExchangeServices {
  readonly wheel: DeadlineWheel;
  readonly telemetry: Telemetry;
}

/** The client side of a WebSocket upgrade: its socket, the bytes it sent past its head, its key. */
interface WebSocketClient {
  readonly socket: Socket;
  readonly head: Buffer;
  readonly key: string;
}


const kExchange = Symbol('veloflux.exchange');
type ResponseWithExchange = ServerResponse & { [kExchange]?: Exchange };

class RetryOnAnotherBackend extends Error {}
const RETRY = new RetryOnAnotherBackend('retrying on another backend');

const EWMA_WEIGHT = 0.2;

export class Exchange implements UpstreamHandler, RequestHeadFields, PickContext, Expirable, TunnelOwner {
  // RequestHeadFields, filled by parseRequestHead.
  upstreamHeaders: string[] = [];
  rawHost = '';
  contentLength = 0;
  incomingForwardedFor: string | undefined = undefined;
  incomingForwardedProto: string | undefined = undefined;
  incomingForwardedHost: string | undefined = undefined;
  incomingRequestId: string | undefined = undefined;
  incomingVia: string | undefined = undefined;

  // PickContext.
  clientAddress = '';
  path = '/';

  // Expirable.
  deadline = 0;
  previousOnWheel: Expirable | undefined = undefined;
  nextOnWheel: Expirable | undefined = undefined;

  /** Lower-case Host without its port ('' when absent), once routed. */
  host = '';
  /** The peer is one of server.trustedProxies: its X-Forwarded-* are believed. */
  peerTrusted = false;
  /** The path sent upstream (after an optional prefix strip). */
  upstreamPath = '/';
  /** The route's metrics label (`host` + `path` as configured). */
  routeLabel = '';
  /** X-Request-Id sent upstream (kept from a trusted proxy or generated). */
  requestId = '';
  /** Set while the worker drains for shutdown: responses then close their connection. */
  closeAfterResponse = false;
  /** Byte limit for a chunked body (0: none); a declared Content-Length was checked up front. */
  chunkedBodyLimit = 0;
  /** Set by a stage that must read the start of the body before the request goes upstream (body-check.ts). */
  bodyCheck: BodyCheck | undefined = undefined;

  readonly #req: IncomingMessage;
  readonly #res: ResponseWithExchange;
  readonly #services: ExchangeServices;
  /**
   * An HTTP/2 stream (node's compatibility pair, http2-engine.ts): an error never closes the
   * connection, which other streams share, and a response cut short is a RST_STREAM.
   */
  readonly #h2: boolean;
  #pool!: PoolRuntime;
  /** Set for a WebSocket upgrade. */
  #websocket: WebSocketClient | undefined;
  #backend: Backend | undefined;
  #tried: Backend[] | undefined;
  /** The backend of the attempt that just ended (retries exclude it). */
  #lastBackend: Backend | undefined;
  #nextBackend: Backend | undefined;
  /** The current attempt's upstream call (abort, resume), once dispatched. */
  #upstream: UpstreamController | undefined;
  #attemptStart = 0;
  /** How long the current attempt took, once sampled: what the balancer learns from (onEnd). */
  #attemptLatencyMs = 0;
  #startedAt = 0;
  /** Status sent to the client (0 until then), and body bytes relayed: for the metrics. */
  #status = 0;
  #bytes = 0;
  #bytesIn = 0;
  #drainHooked = false;
  /** The client is answered or gone: nothing more may be written. */
  #done = false;
  /** This request took a retry (it counts against the pool's retry budget until it ends). */
  #retried = false;
  /** The sticky cookie named the backend in use: no need to set it again. */
  #stickyPinned = false;
  /** The body as a body check let it on (what it read, then the rest), instead of the request itself. */
  #checkedBody: Readable | undefined;

  /** `h2`: the pair is node:http2's compatibility request/response for one stream (http2-engine.ts). */
  constructor(req: IncomingMessage, res: ServerResponse, services: ExchangeServices, h2 = false) {
    this.#req = req;
    this.#res = res;
    this.#services = services;
    this.#h2 = h2;
  }


  get request(): IncomingMessage {
    return this.#req;
  }

  get response(): ServerResponse {
    return this.#res;
  }

  get telemetry(): Telemetry {
    return this.#services.telemetry;
  }

  /** Over our own TLS listener, or through a trusted proxy that terminated TLS and says so. */
  get arrivedOverTls(): boolean {
    if ((this.#req.socket as TLSSocket).encrypted === true) return true;
    return this.peerTrusted && this.incomingForwardedProto?.toLowerCase() === 'https';
  }

  /**
   * VeloFlux answers the request itself with an error (a bad head, no route, a stage's refusal):
   * counted under the route and pool once routed (empty labels before), never sent upstream.
   */
  refuse(code: ErrorCode, extraHeaders?: readonly string[]): void {
    this.#done = true;
    const close = this.closeAfterResponse || this.contentLength !== 0;
    const { requests } = this.#services.telemetry;
    requests.record(this.routeLabel, this.#pool?.name ?? '', '', this.#req.method ?? '', ERRORS[code].status, 0, 0);
    if (this.#h2) requests.count('http2Requests', this.routeLabel, this.#pool?.name ?? '');
    if (this.#grpcContentType() !== undefined) return sendGrpcError(this.#res, code, this.#h2, this.#grpcContentType()!);
    if (this.#h2) sendStreamError(this.#res as unknown as Http2ServerResponse, code, extraHeaders);
    else sendError(this.#res, code, close, extraHeaders);
  }

  get headers(): IncomingHttpHeaders {
    // node builds this object lazily; only consistent_hash on a header or cookie asks for it.
    return this.#req.headers;
  }

  /** The pool the route sends to, set once routed (stages read its name). */
  route(pool: PoolRuntime): void {
    this.#pool = pool;
  }

  /**
   * Starts a WebSocket upgrade: `socket` is the client's (node handed it over with `head`, the
   * bytes read past the request head), `key` its Sec-WebSocket-Key.
   */
  startWebSocket(socket: Socket, head: Buffer, key: string): void {
    this.#websocket = { socket, head, key };
    this.start();
  }

  /** Starts proxying to the routed pool. The caller has validated the request and filled the head fields. */
  start(): void {
    const pool = this.#pool;
    this.#startedAt = performance.now();
    pool.activeRequests++;
    this.#res[kExchange] = this;
    this.#res.on('close', onResponseClose);
    // A gRPC deadline (grpc-timeout) caps the proxy's own for this call: past it the client has
    // given up, and it hears DEADLINE_EXCEEDED rather than a later answer nobody waits for.
    const grpcTimeoutMs = this.#h2 ? parseGrpcTimeout(this.#req.headers['grpc-timeout']) : undefined;
    this.deadline = performance.now() + (grpcTimeoutMs === undefined ? pool.requestTimeoutMs : Math.min(pool.requestTimeoutMs, grpcTimeoutMs));
    this.#services.wheel.add(this);
    if (this.bodyCheck !== undefined) return this.bodyCheck.check(this);
    this.#pick();
  }

  /** The body check let the request on: `body` replays what it read, then streams the rest. */
  forwardBody(body: Readable): void {
    if (this.#done) {
      body.destroy();
      return;
    }
    this.#checkedBody = body;
    this.#pick();
  }

  /** The body check refused the request: answered now, the unread body discarded (lingering close). */
  refuseBody(code: ErrorCode, extraHeaders?: readonly string[]): void {
    if (this.#done) return;
    this.#status = ERRORS[code].status;
    this.#finish('proxy');
    if (this.#grpcContentType() !== undefined) return sendGrpcError(this.#res, code, this.#h2, this.#grpcContentType()!);
    sendError(this.#res, code, true, extraHeaders);
  }

  #pick(): void {
    const pool = this.#pool;
    let backend: Backend | undefined;
    if (pool.sticky !== undefined) {
      // A genuine cookie pins the client while its backend is available; otherwise balance and re-pin.
      const pinned = pool.sticky.backendFor(this.#req.headers.cookie);
      if (pinned?.available === true) backend = pinned;
      this.#stickyPinned = backend !== undefined;
    }
    backend ??= pool.balancer.pick(this) ?? pool.panicPick();
    if (backend === undefined) return this.#fail('VF_ERR_NO_HEALTHY_UPSTREAM', 'proxy');
    this.#dispatch(backend);
  }

  #dispatch(backend: Backend): void {
    // Circuit breaking: past its connections plus pending limit a backend gets no more requests
    // queued behind it; the client gets 503 at once instead of waiting without bound.
    if (backend.stats.inFlight >= this.#pool.maxInFlightPerBackend) {
      this.#services.telemetry.requests.count('circuitRejections', this.#pool.name);
      return this.#fail('VF_ERR_CIRCUIT_OPEN', 'proxy');
    }
    this.#backend = backend;
    this.#upstream = undefined;
    backend.stats.inFlight++;
    backend.stats.requests++;
    this.#pool.balancer.onStart(backend);
    this.#attemptStart = performance.now();
    this.#pool.upstreams[backend.index]!.dispatch(
      {
        path: this.upstreamPath,
        method: this.#req.method!,
        headers: this.upstreamHeaders,
        body: this.#requestBody(),
        contentLength: this.contentLength,
        upgrade: this.#websocket === undefined ? undefined : 'websocket',
        // An h2 client's request trailers (gRPC may send some) pass on to an h2 backend.
        trailerSource: this.#h2 ? (this.#req as unknown as { trailers: Record<string, string> }) : undefined,
      },
      this,
    );
  }

  #requestBody(): Readable | null {
    if (this.contentLength === 0) return null;
    const body = this.#checkedBody ?? this.#req;
    if (this.contentLength > 0 || this.chunkedBodyLimit === 0) return body;
    const limited = new BodyLimit(this.chunkedBodyLimit);
    // The limit may be crossed while the call still waits for a connection, before anything
    // reads the body's errors: the call is cancelled with the 413 then and there.
    pipeline(body, limited, (err) => {
      if (err instanceof VelofluxError) this.#upstream?.abort(err);
    });
    return limited;
  }

  /** Ends the current attempt's bookkeeping (exactly once per dispatch). */
  #endAttempt(): void {
    const backend = this.#backend;
    if (backend === undefined) return;
    this.#backend = undefined;
    this.#sampleLatency(backend);
    this.#release(backend);
    this.#lastBackend = backend;
  }

  #sampleLatency(backend: Backend): void {
    const latency = performance.now() - this.#attemptStart;
    this.#attemptLatencyMs = latency;
    backend.stats.ewmaLatencyMs = backend.stats.ewmaLatencyMs === 0 ? latency : backend.stats.ewmaLatencyMs + EWMA_WEIGHT * (latency - backend.stats.ewmaLatencyMs);
  }

  /** A tunnel is released when it closes, with the latency of its handshake, not its lifetime. */
  #release(backend: Backend): void {
    backend.stats.inFlight--;
    this.#pool.balancer.onEnd(backend, this.#attemptLatencyMs);
  }

  /** The client is answered (or gone): the request leaves the pool's counts and is counted in the metrics. */
  #finish(termination: Termination): void {
    this.#settle();
    const seconds = (performance.now() - this.#startedAt) / 1000;
    const backend = this.#backend ?? this.#lastBackend;
    const { requests } = this.#services.telemetry;
    requests.record(this.routeLabel, this.#pool.name, backend?.id ?? '', this.#req.method!, this.#status, seconds, this.#bytes);
    if (this.#bytesIn > 0) requests.count('requestBytes', this.routeLabel, '', this.#bytesIn);
    if (this.#h2) requests.count('http2Requests', this.routeLabel, this.#pool.name);
    this.#log(termination, seconds, this.#bytesIn, this.#bytes);
  }

  #settle(): void {
    this.#done = true;
    this.#services.wheel.delete(this);
    const pool = this.#pool;
    pool.activeRequests--;
    if (this.#retried) pool.activeRetries--;
  }

  #log(termination: Termination, seconds: number, bytesIn: number, bytesOut: number): void {
    const { accessLog } = this.#services.telemetry;
    if (!accessLog.enabled) return;
    accessLog.write({
      requestId: this.requestId,
      method: this.#req.method!,
      protocol: this.#h2 ? 'HTTP/2' : this.#req.httpVersionMinor === 0 ? 'HTTP/1.0' : 'HTTP/1.1',
      route: this.routeLabel,
      pool: this.#pool.name,
      backend: (this.#backend ?? this.#lastBackend)?.id ?? '',
      status: this.#status,
      durationMs: Math.round(seconds * 1e6) / 1e3,
      bytesIn,
      bytesOut,
      client: this.clientAddress,
      termination,
    });
  }

  #fail(code: ErrorCode, termination: Termination = 'upstream'): void {
    if (this.#status === 0) this.#status = ERRORS[code].status;
    this.#finish(termination);
    if (this.#grpcContentType() !== undefined) return sendGrpcError(this.#res, code, this.#h2, this.#grpcContentType()!);
    if (this.#h2) sendStreamError(this.#res as unknown as Http2ServerResponse, code);
    else sendError(this.#res, code, this.closeAfterResponse || this.contentLength !== 0);
  }

  /** Another backend to try for this request, if a retry is allowed at all. */
  #retryTarget(): Backend | undefined {
    const tried = this.#tried?.length ?? 0;
    if (tried >= this.#pool.retries || this.contentLength !== 0 || !IDEMPOTENT_METHODS.has(this.#req.method!)) return undefined;
    if (!this.#retried && !this.#pool.retryAllowed()) return undefined;
    const current = this.#backend ?? this.#lastBackend;
    if (current === undefined) return undefined;
    (this.#tried ??= []).push(current);
    const next = this.#pool.balancer.pick(this, this.#tried) ?? this.#pool.panicPick(this.#tried);
    if (next === undefined) {
      this.#tried.pop();
      return undefined;
    }
    this.#services.telemetry.requests.count('retries', this.#pool.name);
    if (!this.#retried) {
      this.#retried = true;
      this.#pool.activeRetries++;
    }
    return next;
  }

  // UpstreamHandler.

  onConnect(upstream: UpstreamController): void {
    if (this.#done) return upstream.abort();
    this.#upstream = upstream;
  }

  onHeaders(statusCode: number, rawHeaders: string[]): boolean {
    if (this.#done) return false;
    if (statusCode >= 500) this.#pool.recordFailure(this.#backend!);
    else this.#pool.recordSuccess(this.#backend!);
    if (statusCode === 502 || statusCode === 503) {
      const next = this.#retryTarget();
      if (next !== undefined) {
        this.#nextBackend = next;
        this.#upstream?.abort(RETRY);
        return false;
      }
    }
    const headers = responseHeaders(rawHeaders, this.closeAfterResponse && !this.#h2);
    const sticky = this.#pool.sticky;
    if (sticky !== undefined && !this.#stickyPinned) {
      headers.push('set-cookie', sticky.setCookieFor(this.#backend!, (this.#req.socket as TLSSocket).encrypted === true));
    }
    this.#status = statusCode;
    this.#res.writeHead(statusCode, headers);
    return true;
  }

  onBodySent(bytes: number): void {
    this.#bytesIn += bytes;
  }

  /**
   * The backend switched protocols. It must be a WebSocket answer to this key (RFC 6455
   * §4.1): anything else is a bad response (502) and nothing of it reaches the client. The
   * handshake is counted in the metrics now (status 101, time to the 101); the access log line
   * is written when the tunnel closes, with its lifetime and bytes, as nginx logs it.
   */
  onUpgrade(headers: string[], upstream: Socket, head: Buffer): void {
    const websocket = this.#websocket;
    const backend = this.#backend!;
    if (this.#done || websocket === undefined) {
      upstream.destroy();
      return this.#endAttempt();
    }
    if (!acceptsWebSocket(headers, websocket.key)) {
      upstream.destroy();
      this.#endAttempt();
      this.#pool.recordFailure(backend);
      return this.#fail('VF_ERR_UPSTREAM_BAD_RESPONSE');
    }
    this.#pool.recordSuccess(backend);
    this.#sampleLatency(backend);
    this.#status = 101;
    this.#settle();
    this.#services.telemetry.requests.record(this.routeLabel, this.#pool.name, backend.id, this.#req.method!, 101, (performance.now() - this.#startedAt) / 1000, 0);
    const client = websocket.socket;
    const sticky = this.#pool.sticky;
    const pin = sticky === undefined || this.#stickyPinned ? undefined : sticky.setCookieFor(backend, (this.#req.socket as TLSSocket).encrypted === true);
    client.write(switchingProtocolsHead(responseHeaders(headers, false), pin), 'latin1');
    const { wheel, telemetry } = this.#services;
    new WebSocketTunnel(this, client, upstream, this.#pool.websocket, wheel, telemetry.websockets).open(websocket.head, head);
  }

  // TunnelOwner.

  tunnelClosed(termination: Termination, session: TunnelTotals): void {
    const backend = this.#backend;
    if (backend === undefined) return;
    const { requests } = this.#services.telemetry;
    const route = this.routeLabel;
    requests.count('websocketBytes', route, 'in', session.bytesFromClient);
    requests.count('websocketBytes', route, 'out', session.bytesToClient);
    requests.count('websocketMessages', route, 'in', session.messagesFromClient);
    requests.count('websocketMessages', route, 'out', session.messagesToClient);
    requests.count('websocketSeconds', route, '', session.seconds);
    this.#log(termination, (performance.now() - this.#startedAt) / 1000, session.bytesFromClient, session.bytesToClient);
    this.#backend = undefined;
    this.#release(backend);
  }

  onData(chunk: Buffer): boolean {
    if (this.#done) return false;
    this.#bytes += chunk.length;
    if (this.#res.write(chunk)) return true;
    if (!this.#drainHooked) {
      this.#drainHooked = true;
      this.#res.on('drain', onResponseDrain);
    }
    return false;
  }

  onComplete(trailers?: string[]): void {
    this.#endAttempt();
    if (this.#done) return;
    this.#finish('complete');
    if (trailers !== undefined) {
      const forwarded = forwardableTrailers(trailers);
      if (forwarded !== undefined) this.#res.addTrailers(forwarded);
    }
    if (this.#h2) endResponse(this.#res as unknown as Http2ServerResponse);
    else this.#res.end();
  }

  onError(err: Error): void {
    const failedBackend = this.#backend;
    this.#endAttempt();
    if (this.#done) return;
    if (err === RETRY && this.#nextBackend !== undefined) {
      const next = this.#nextBackend;
      this.#nextBackend = undefined;
      return this.#dispatch(next);
    }
    if (err instanceof VelofluxError) return this.#fail(err.code, 'proxy');
    if (failedBackend !== undefined) this.#pool.recordFailure(failedBackend);
    if (this.#res.headersSent) {
      // The response already started: cut it off so the client cannot mistake it for a whole one.
      this.#finish('upstream');
      this.#cutShort();
      return;
    }
    const failure = classifyUpstreamError(err as Error & { code?: string });
    if (failure.beforeResponse) {
      const next = this.#retryTarget();
      if (next !== undefined) return this.#dispatch(next);
    }
    this.#fail(failure.code);
  }

  // Called by the deadline wheel when the whole-exchange deadline passed.
  expire(): void {
    if (this.#done) return;
    if (this.#backend !== undefined) this.#pool.recordFailure(this.#backend);
    if (this.#res.headersSent) {
      this.#finish('timeout');
      this.#cutShort('VF_ERR_UPSTREAM_TIMEOUT');
    } else {
      this.#fail('VF_ERR_UPSTREAM_TIMEOUT', 'timeout');
    }
    this.#upstream?.abort();
  }

  /** The client connection closed before the response was complete: cancel the upstream request. */
  clientGone(): void {
    if (this.#done) return;
    // nginx's 499: the client closed the connection before the response was complete.
    if (this.#status === 0) this.#status = 499;
    this.#finish('client');
    this.#upstream?.abort();
  }

  /** The request's content-type when it is a gRPC call (errors are then gRPC statuses), else undefined. */
  #grpcContentType(): string | undefined {
    const type = this.#req.headers['content-type'];
    return isGrpc(type) ? type : undefined;
  }

  /** A response that cannot be completed: the connection is cut (HTTP/1.1), or the stream reset (h2). */
  #cutShort(code: ErrorCode = 'VF_ERR_UPSTREAM_BAD_RESPONSE'): void {
    if (this.#h2 && this.#grpcContentType() !== undefined && !this.#res.writableEnded) {
      // A gRPC client reads the outcome from trailers: UNAVAILABLE (or DEADLINE_EXCEEDED) there
      // tells it what happened, where a reset stream would read as INTERNAL.
      this.#res.addTrailers(grpcTrailers(code));
      return endResponse(this.#res as unknown as Http2ServerResponse);
    }
    if (this.#h2) cutStream((this.#res as unknown as Http2ServerResponse).stream);
    else this.#res.destroy();
  }

  resumeUpstream(): void {
    // Once answered, the upstream connection may already carry another request: leave it alone.
    if (!this.#done) this.#upstream?.resume();
  }
}

function onResponseClose(this: ResponseWithExchange): void {
  if (!this.writableFinished) this[kExchange]?.clientGone();
}

function onResponseDrain(this: ResponseWithExchange): void {
  this[kExchange]?.resumeUpstream();
}

/** The upstream's headers minus hop-by-hop ones, as a flat array for writeHead. */
function responseHeaders(raw: string[], closeConnection: boolean): string[] {
  const out: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'connection') connection = raw[i + 1]!;
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  if (connection !== undefined) removeConnectionNominated(out, connection);
  if (closeConnection) out.push('connection', 'close');
  return out;
}
