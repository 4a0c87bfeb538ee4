/**
 * The data plane's request entry, for plain requests and upgrades alike: the head checks the
 * parser leaves to us, routing, client address resolution, the route's compiled stages
 * (stages/pipeline.ts), forwarding headers, then an Exchange that makes the backend attempt.
 * It reads only the current runtime, which a config swap replaces whole.
 */
import { randomUUID } from 'node:crypto';
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ErrorCode } from '../../shared/errors.js';
import { Exchange, type ExchangeServices } from './exchange.js';
import { parseRequestHead } from './request-head.js';
import { parseH2RequestHead } from './h2-request-head.js';
import { normalizePath, routingPath } from './path-normalization.js';
import type { Runtime } from '../runtime/runtime.js';

const kHostCache = Symbol('veloflux.hostCache');
type CachingSocket = Socket & { [kHostCache]?: { raw: string; host: string } };

/** :method, :scheme, :authority, :path: an h2 request's fields besides its headers. */
const H2_PSEUDO_HEADERS = 4;

/** Methods announced for `OPTIONS *` (RFC 9110 §9.3.7): what the proxy forwards. */
const ALLOW = 'GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE';

export class ProxyHandler {
  #runtime: Runtime;
  readonly #services: ExchangeServices;
  #draining = false;
  /** Requests received (any outcome), for the stats the primary aggregates. */
  requests = 0;

  constructor(runtime: Runtime, services: ExchangeServices) {
    this.#runtime = runtime;
    this.#services = services;
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
    this.#prepare(req, res)?.start();
  };

  /**
   * One HTTP/2 stream (http2-engine.ts): node's compatibility pair has node:http's shape in
   * everything the request path reads and writes, so it takes the same path.
   */
  readonly handleStream = (req: Http2ServerRequest, res: Http2ServerResponse): void => {
    this.requests++;
    this.#prepare(req as unknown as IncomingMessage, res as unknown as ServerResponse, true)?.start();
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
    socket.on('error', destroySocket);
    const exchange = this.#prepare(req, res);
    if (exchange === undefined) return;
    if (!isWebSocketUpgrade(req)) {
      // node stops parsing at an upgrade head, so a body could not be read: refuse rather than hang.
      if (exchange.contentLength !== 0) return exchange.refuse('VF_ERR_BAD_REQUEST');
      return exchange.start();
    }
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string' || key === '' || req.method !== 'GET') return exchange.refuse('VF_ERR_BAD_REQUEST');
    exchange.startWebSocket(socket, head, key);
  };

  /**
   * Head checks, routing, the route's stages and forwarding headers, shared by plain requests
   * and upgrades; undefined when the request is already answered.
   */
  #prepare(req: IncomingMessage, res: ServerResponse, h2 = false): Exchange | undefined {
    if (this.#draining) res.shouldKeepAlive = false;
    const exchange = new Exchange(req, res, this.#services, h2);
    exchange.closeAfterResponse = this.#draining;
    const runtime = this.#runtime;
    let problem;
    if (!h2) {
      // HTTP/0.9 has no headers and no framing; RFC 9112 §2.3 lets a server refuse it, and
      // HTTP/2.0 in a request line is no HTTP/2 (that starts with a preface, RFC 9113 §3.4).
      if (req.httpVersionMajor !== 1) return refuseAndClose(exchange, 'VF_ERR_BAD_REQUEST');
      // Framing and Host rules first, for every target: `OPTIONS *` answered without them would
      // let an ambiguous body (empty Transfer-Encoding + Content-Length) desync the connection.
      if (req.rawHeaders.length > 2 * runtime.maxHeaderCount) return refuseAndClose(exchange, 'VF_ERR_HEADERS_TOO_LARGE');
      problem = parseRequestHead(req.rawHeaders, req.httpVersionMinor, exchange);
    } else {
      // A forward-proxy tunnel (RFC 9113 §8.5), refused as on HTTP/1.1.
      if (req.method === 'CONNECT') return void exchange.refuse('VF_ERR_METHOD_NOT_ALLOWED');
      if (req.rawHeaders.length > 2 * (runtime.maxHeaderCount + H2_PSEUDO_HEADERS)) return void exchange.refuse('VF_ERR_HEADERS_TOO_LARGE');
      problem = parseH2RequestHead(req.rawHeaders, (req as unknown as Http2ServerRequest).stream.endAfterHeaders, runtime.maxHeaderListSize, exchange);
    }
    if (problem !== undefined) return refuseAndClose(exchange, problem);
    // A backend that points at this proxy (or a chain that leads back to it) would fan out until
    // sockets run out; the request that returns carrying our own Via stops it (RFC 5842 §7.2).
    if (exchange.incomingVia !== undefined && exchange.incomingVia.includes(runtime.viaPseudonym)) return void exchange.refuse('VF_ERR_LOOP_DETECTED');

    let target = req.url ?? '';
    if (target.charCodeAt(0) !== 47 /* / */) {
      if (target === '*') return void answerOptionsStar(exchange);
      target = originFormOf(target);
      if (target === '') return refuseAndClose(exchange, 'VF_ERR_BAD_REQUEST');
    }
    if (target !== req.url) replaceHost(exchange, req.url!);
    // Route (and forward) the path in its normal form: `/%61dmin` and `/x/../admin` are `/admin`.
    const normal = normalizePath(target);
    if (normal === undefined) return refuseAndClose(exchange, 'VF_ERR_BAD_REQUEST');
    target = normal;
    if (runtime.maxBodySize > 0 && exchange.contentLength > runtime.maxBodySize) return refuseAndClose(exchange, 'VF_ERR_BODY_TOO_LARGE');
    if (exchange.contentLength === -1) exchange.chunkedBodyLimit = runtime.maxBodySize;

    exchange.host = normalizedHost(req.socket as CachingSocket, exchange.rawHost);
    const route = runtime.routeTable.match(exchange.host, routingPath(target));
    if (route === undefined) return void exchange.refuse('VF_ERR_NO_ROUTE');
    exchange.path = target;
    exchange.routeLabel = route.label;
    if (route.stripPrefix) {
      // Path parameters inside the prefix (`/api;x/users` on `/api/`) leave nothing exact to strip.
      if (!target.startsWith(route.path)) return refuseAndClose(exchange, 'VF_ERR_BAD_REQUEST');
      exchange.upstreamPath = stripPrefix(target, route.path);
    } else {
      exchange.upstreamPath = target;
    }
    exchange.route(runtime.pools[route.poolIndex]!);
    resolveClient(exchange, req, runtime);

    const stages = runtime.liveIpLists.current.empty ? route.stages : route.guardedStages;
    for (let i = 0; i < stages.length; i++) if (!stages[i]!.admit(exchange)) return undefined;
    addForwardingHeaders(exchange, req, h2 ? runtime.viaH2 : runtime.via);
    return exchange;
  }

}

/** Absolute-form targets (RFC 9112 §3.2.2) are reduced to origin-form; '' when not http(s). */
function originFormOf(target: string): string {
  if (!/^https?:\/\/[^/?#\s]+/i.test(target)) return '';
  const url = URL.canParse(target) ? new URL(target) : undefined;
  return url === undefined ? '' : url.pathname + url.search;
}

/** After a framing or syntax problem nothing more read from the connection can be trusted. */
function refuseAndClose(exchange: Exchange, code: ErrorCode): undefined {
  exchange.closeAfterResponse = true;
  exchange.refuse(code);
  return undefined;
}

function destroySocket(this: Socket): void {
  this.destroy();
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

function answerOptionsStar(exchange: Exchange): void {
  if (exchange.request.method !== 'OPTIONS') return void refuseAndClose(exchange, 'VF_ERR_BAD_REQUEST');
  exchange.response.writeHead(200, { allow: ALLOW, 'content-length': 0 });
  exchange.response.end();
}

/**
 * The host routes are matched on: lower-case, without port, without the trailing dot of a fully
 * qualified name (`shop.example.com.` is `shop.example.com`, RFC 1034 §3.1), so no spelling of a
 * host skips its routes' rules. Cached per connection: a keep-alive client sends the same Host
 * each time, so the common case costs a string comparison.
 */
function normalizedHost(socket: CachingSocket, raw: string): string {
  const cached = socket[kHostCache];
  if (cached !== undefined && cached.raw === raw) return cached.host;
  let end = raw.length;
  const colon = raw.lastIndexOf(':');
  if (colon !== -1 && raw.indexOf(']', colon) === -1) end = colon;
  if (end > 1 && raw.charCodeAt(end - 1) === 46 /* . */) end--;
  const host = raw.slice(0, end).toLowerCase();
  socket[kHostCache] = { raw, host };
  return host;
}

function stripPrefix(target: string, prefix: string): string {
  const rest = target.slice(prefix.endsWith('/') ? prefix.length - 1 : prefix.length);
  return rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
}

/**
 * Who the client is: the peer, or, when the peer is a trusted proxy (as Traefik's
 * forwardedHeaders.trustedIPs), the rightmost untrusted address it forwarded. Before the
 * stages, which may key on it (rate limits, address lists).
 */
function resolveClient(exchange: Exchange, req: IncomingMessage, runtime: Runtime): void {
  const peer = req.socket.remoteAddress ?? '';
  exchange.peerTrusted = runtime.trustsAnyProxy && peer !== '' && runtime.trustedProxies.check(peer, peer.includes(':') ? 'ipv6' : 'ipv4');
  exchange.clientAddress = exchange.peerTrusted ? clientFromForwardedFor(exchange.incomingForwardedFor, peer, runtime) : peer;
}

/**
 * X-Forwarded-For / -Proto / -Host and X-Request-Id. What a client sent is believed only from
 * a trusted proxy; otherwise it is replaced, so a client cannot forge its address or request id.
 */
function addForwardingHeaders(exchange: Exchange, req: IncomingMessage, via: string): void {
  const peer = req.socket.remoteAddress ?? '';
  const headers = exchange.upstreamHeaders;
  headers.push('via', via);
  const proto = (req.socket as TLSSocket).encrypted === true ? 'https' : 'http';
  if (exchange.peerTrusted) {
    headers.push(
      'x-forwarded-for', exchange.incomingForwardedFor === undefined ? peer : `${exchange.incomingForwardedFor}, ${peer}`,
      'x-forwarded-proto', exchange.incomingForwardedProto ?? proto,
      'x-request-id', (exchange.requestId = exchange.incomingRequestId ?? (exchange.requestId || randomUUID())),
    );
    const forwardedHost = exchange.incomingForwardedHost ?? exchange.rawHost;
    if (forwardedHost !== '') headers.push('x-forwarded-host', forwardedHost);
  } else {
    // A stage may have named the request already (a security event records the id): keep it.
    headers.push('x-forwarded-for', peer, 'x-forwarded-proto', proto, 'x-request-id', (exchange.requestId ||= randomUUID()));
    if (exchange.rawHost !== '') headers.push('x-forwarded-host', exchange.rawHost);
  }
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
