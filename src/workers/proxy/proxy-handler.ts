/**
 * The data plane's request entry: strict checks the parser leaves to us, routing, client
 * address resolution, forwarding headers, then an Exchange that streams to the chosen backend.
 * It reads only the current runtime, which a config swap replaces whole.
 */
import { randomUUID } from 'node:crypto';
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { DeadlineWheel } from '../deadline-wheel.js';
import { answerAndLinger, sendError } from './error-response.js';
import { requestMetrics } from '../telemetry/request-metrics.js';
import { ERRORS, type ErrorCode } from '../../shared/errors.js';
import { Exchange } from './exchange.js';
import { parseRequestHead } from './request-head.js';
import { normalizePath } from './path-normalization.js';
import type { PoolRuntime } from '../runtime/pool-runtime.js';
import type { RateLimiter } from '../rate-limit/rate-limiter.js';
import type { Runtime } from '../runtime/runtime.js';
import { WebSocketTunnel } from '../websocket/websocket-tunnel.js';

const kHostCache = Symbol('veloflux.hostCache');
type CachingSocket = Socket & { [kHostCache]?: { raw: string; host: string } };

/** Methods announced for `OPTIONS *` (RFC 9110 §9.3.7): what the proxy forwards. */
const ALLOW = 'GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE';

export class ProxyHandler {
  #runtime: Runtime;
  readonly #wheel = new DeadlineWheel();
  #draining = false;
  /** Requests received (any outcome), for the stats the primary aggregates. */
  requests = 0;
  /** Where `redirectHttps` sends plain-HTTP clients: the bound HTTPS port (443 is left out of the URL). */
  httpsPort = 443;

  constructor(runtime: Runtime) {
    this.#runtime = runtime;
  }

  get runtime(): Runtime {
    return this.#runtime;
  }

  /** Later requests use `runtime`; requests already in flight keep theirs. */
  swap(runtime: Runtime): void {
    this.#runtime = runtime;
  }

  /** Shutdown: every response from now on closes its connection. */
  drain(): void {
    this.#draining = true;
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.requests++;
    const prepared = this.#prepare(req, res);
    if (prepared !== undefined) prepared.exchange.start(prepared.pool);
  };

  /**
   * node's 'upgrade' event: WebSocket handshakes become tunnels; any other upgrade (h2c, ...)
   * is proxied as a plain request, without the Upgrade header (it is hop-by-hop).
   */
  readonly handleUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    this.requests++;
    // node has handed the socket over; a response object on it answers errors the usual way.
    const res = new ServerResponse(req);
    res.assignSocket(socket);
    res.shouldKeepAlive = false;
    // node's server does not manage this response: close the connection once it is written.
    res.once('finish', () => socket.destroySoon());
    const prepared = this.#prepare(req, res);
    if (prepared === undefined) return;
    if (!isWebSocketUpgrade(req)) {
      // node stops parsing at an upgrade head, so a body could not be read: refuse rather than hang.
      if (prepared.exchange.contentLength !== 0) return reject(res, 'VF_ERR_BAD_REQUEST', true);
      return prepared.exchange.start(prepared.pool);
    }
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string' || key === '' || req.method !== 'GET') return reject(res, 'VF_ERR_BAD_REQUEST', true);
    const { exchange } = prepared;
    new WebSocketTunnel(socket, res, head, { method: 'GET', path: exchange.upstreamPath, headers: exchange.upstreamHeaders, key, pick: exchange }, prepared.pool).start();
  };

  /** Checks, routing and forwarding headers shared by plain requests and upgrades; undefined when already answered. */
  #prepare(req: IncomingMessage, res: ServerResponse): { exchange: Exchange; pool: PoolRuntime } | undefined {
    if (this.#draining) res.shouldKeepAlive = false;
    // HTTP/0.9 has no headers and no framing; RFC 9112 §2.3 lets a server refuse it.
    if (req.httpVersionMajor !== 1) return void reject(res, 'VF_ERR_BAD_REQUEST', true);
    const runtime = this.#runtime;
    // Framing and Host rules first, for every target: `OPTIONS *` answered without them would
    // let an ambiguous body (empty Transfer-Encoding + Content-Length) desync the connection.
    const exchange = new Exchange(req, res, this.#wheel);
    exchange.closeAfterResponse = this.#draining;
    const problem = parseRequestHead(req.rawHeaders, req.httpVersionMinor, exchange);
    if (problem !== undefined) return void reject(res, problem, true);

    let target = req.url ?? '';
    if (target.charCodeAt(0) !== 47 /* / */) {
      if (target === '*') return void answerOptionsStar(req, res);
      target = this.#originFormOf(target);
      if (target === '') return void reject(res, 'VF_ERR_BAD_REQUEST', true);
    }
    if (target !== req.url) replaceHost(exchange, req.url!);
    // Route (and forward) the path in its normal form: `/%61dmin` and `/x/../admin` are `/admin`.
    const normal = normalizePath(target);
    if (normal === undefined) return void reject(res, 'VF_ERR_BAD_REQUEST', true);
    target = normal;
    if (runtime.maxBodySize > 0 && exchange.contentLength > runtime.maxBodySize) return void reject(res, 'VF_ERR_BODY_TOO_LARGE', true);
    if (exchange.contentLength === -1) exchange.chunkedBodyLimit = runtime.maxBodySize;

    const host = normalizedHost(req.socket as CachingSocket, exchange.rawHost);
    const route = runtime.routeTable.match(host, target);
    if (route === undefined) return void reject(res, 'VF_ERR_NO_ROUTE', exchange.contentLength !== 0 || this.#draining);
    if (route.redirectHttps && !arrivedOverTls(req, exchange, runtime)) {
      return void this.#redirectToHttps(res, host, target, this.#draining);
    }

    exchange.path = target;
    exchange.routeLabel = route.label;
    exchange.upstreamPath = route.stripPrefix ? stripPrefix(target, route.path) : target;
    addForwardingHeaders(exchange, req, runtime);
    const pool = runtime.pools[route.poolIndex]!;
    // After routing and client address resolution (the key may be the address), before any
    // upstream work; upgrades come through here too.
    const limiter = route.rateLimiter;
    if (limiter !== undefined) {
      const key = limiter.key.of(exchange.clientAddress, req.rawHeaders, route.label);
      const now = performance.now();
      if (!limiter.take(key, now)) {
        return void rejectOverLimit(res, route.label, pool.name, limiter, key, now, exchange.contentLength !== 0 || this.#draining);
      }
    }
    return { exchange, pool };
  }

  /**
   * 308 (RFC 9110 §15.4.9) keeps the method and body, unlike 301; the upstream is never
   * contacted. `host` is the request's host without its port, already validated as uri-host.
   */
  #redirectToHttps(res: ServerResponse, host: string, target: string, close: boolean): void {
    if (host === '') return reject(res, 'VF_ERR_BAD_REQUEST', close);
    const port = this.httpsPort === 443 ? '' : `:${this.httpsPort}`;
    const location = `https://${host}${port}${target}`;
    if (!res.req.complete && res.socket !== null) {
      // The client is still sending a body it will repeat on HTTPS: answer on the socket and
      // discard the rest (lingering close), or the client's next write would draw a reset that
      // loses the answer.
      res.req.resume();
      return answerAndLinger(res.socket, `HTTP/1.1 308 Permanent Redirect\r\nlocation: ${location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    }
    const headers: Record<string, string | number> = { location, 'content-length': 0 };
    if (close) headers.connection = 'close';
    res.writeHead(308, headers);
    res.end();
  }

  /** Absolute-form targets (RFC 9112 §3.2.2) are reduced to origin-form; '' when not http(s). */
  #originFormOf(target: string): string {
    if (!/^https?:\/\/[^/?#\s]+/i.test(target)) return '';
    const url = URL.canParse(target) ? new URL(target) : undefined;
    return url === undefined ? '' : url.pathname + url.search;
  }
}

/** For absolute-form, the Host header is replaced by the target's authority (RFC 9112 §3.2.2). */
function replaceHost(exchange: Exchange, absoluteTarget: string): void {
  const authority = new URL(absoluteTarget).host;
  exchange.rawHost = authority;
  const headers = exchange.upstreamHeaders;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() === 'host') {
      headers[i + 1] = authority;
      return;
    }
  }
  headers.push('host', authority);
}

/** VeloFlux answers the request itself with an error, counted with empty route/pool/backend labels. */
function reject(res: ServerResponse, code: ErrorCode, close: boolean): void {
  requestMetrics.record('', '', '', res.req.method ?? '', ERRORS[code].status, 0, 0);
  sendError(res, code, close);
}

/**
 * 429 from a rate limit (RFC 6585 §4), with Retry-After and the RateLimit-* headers. Unlike the
 * answers above it is counted under its route and pool: the route is known, and operators want
 * to see which one is being limited.
 */
function rejectOverLimit(res: ServerResponse, route: string, pool: string, limiter: RateLimiter, key: string, now: number, close: boolean): void {
  requestMetrics.record(route, pool, '', res.req.method ?? '', ERRORS.VF_ERR_RATE_LIMITED.status, 0, 0);
  requestMetrics.rateLimited(route, limiter.name);
  sendError(res, 'VF_ERR_RATE_LIMITED', close, limiter.refusalHeaders(key, now));
}

function answerOptionsStar(req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'OPTIONS') return reject(res, 'VF_ERR_BAD_REQUEST', true);
  res.writeHead(200, { allow: ALLOW, 'content-length': 0 });
  res.end();
}

/**
 * Lower-case host without port. Cached per connection: a keep-alive client sends the same Host
 * each time, so the common case costs a string comparison.
 */
function normalizedHost(socket: CachingSocket, raw: string): string {
  const cached = socket[kHostCache];
  if (cached !== undefined && cached.raw === raw) return cached.host;
  let end = raw.length;
  const colon = raw.lastIndexOf(':');
  if (colon !== -1 && raw.indexOf(']', colon) === -1) end = colon;
  const host = raw.slice(0, end).toLowerCase();
  socket[kHostCache] = { raw, host };
  return host;
}

function stripPrefix(target: string, prefix: string): string {
  const rest = target.slice(prefix.endsWith('/') ? prefix.length - 1 : prefix.length);
  return rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
}

/**
 * X-Forwarded-For / -Proto / -Host and X-Request-Id. What a client sent is believed only when
 * the peer is a trusted proxy (as Traefik's forwardedHeaders.trustedIPs); otherwise it is
 * replaced, so a client cannot forge its address or request id.
 */
function addForwardingHeaders(exchange: Exchange, req: IncomingMessage, runtime: Runtime): void {
  const peer = req.socket.remoteAddress ?? '';
  const trusted = runtime.trustsAnyProxy && peer !== '' && runtime.trustedProxies.check(peer, peer.includes(':') ? 'ipv6' : 'ipv4');
  const headers = exchange.upstreamHeaders;
  const proto = (req.socket as TLSSocket).encrypted === true ? 'https' : 'http';
  if (trusted) {
    exchange.clientAddress = clientFromForwardedFor(exchange.incomingForwardedFor, peer, runtime);
    headers.push(
      'x-forwarded-for', exchange.incomingForwardedFor === undefined ? peer : `${exchange.incomingForwardedFor}, ${peer}`,
      'x-forwarded-proto', exchange.incomingForwardedProto ?? proto,
      'x-request-id', (exchange.requestId = exchange.incomingRequestId ?? randomUUID()),
    );
    const forwardedHost = exchange.incomingForwardedHost ?? exchange.rawHost;
    if (forwardedHost !== '') headers.push('x-forwarded-host', forwardedHost);
  } else {
    exchange.clientAddress = peer;
    headers.push('x-forwarded-for', peer, 'x-forwarded-proto', proto, 'x-request-id', (exchange.requestId = randomUUID()));
    if (exchange.rawHost !== '') headers.push('x-forwarded-host', exchange.rawHost);
  }
}

/**
 * Whether the client reached us over TLS: our own HTTPS listener, or a trusted proxy in front
 * that terminated TLS and says so (else `redirectHttps` behind it would loop forever).
 */
function arrivedOverTls(req: IncomingMessage, exchange: Exchange, runtime: Runtime): boolean {
  if ((req.socket as TLSSocket).encrypted === true) return true;
  if (exchange.incomingForwardedProto?.toLowerCase() !== 'https' || !runtime.trustsAnyProxy) return false;
  const peer = req.socket.remoteAddress ?? '';
  return peer !== '' && runtime.trustedProxies.check(peer, peer.includes(':') ? 'ipv6' : 'ipv4');
}

/** The rightmost address in X-Forwarded-For that is not a trusted proxy is the client. */
function clientFromForwardedFor(forwardedFor: string | undefined, peer: string, runtime: Runtime): string {
  if (forwardedFor === undefined) return peer;
  const hops = forwardedFor.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!.trim();
    if (hop === '') continue;
    if (!runtime.trustedProxies.check(hop, hop.includes(':') ? 'ipv6' : 'ipv4')) return hop;
  }
  return hops[0]!.trim() || peer;
}

/** RFC 6455 §4.2.1: `Upgrade: websocket` (case-insensitive token). */
function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return typeof upgrade === 'string' && upgrade.toLowerCase().split(',').some((token) => token.trim() === 'websocket');
}
