/**
 * One proxied WebSocket: the upgrade request is forwarded to a backend chosen by the pool's
 * balancer, and the connection becomes a byte tunnel only after the backend answers `101` with
 * the right `Sec-WebSocket-Accept` (RFC 6455 §4.1); any other answer is relayed as it is, and an
 * invalid one gets 502. The tunnel pipes both ways with backpressure; either side closing ends
 * the other (close frames pass through untouched, so close codes arrive as sent). A tunnel is
 * two sockets and knows nothing of the runtime, so config swaps never touch it.
 *
 * Frame headers are read on the way through (never the payloads) to count messages, and so that
 * the pool's idle timeout and max lifetime can end a tunnel with a proper close frame, 1001
 * "going away" (RFC 6455 §7.4.1), to each side instead of a bare TCP reset.
 */
import { createHash, randomFillSync } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { connect, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { ErrorCode } from '../../shared/errors.js';
import type { Backend } from '../runtime/backend.js';
import type { PickContext } from '../balancers/balancer.js';
import { DeadlineWheel, type Expirable } from '../deadline-wheel.js';
import { sendError } from '../proxy/error-response.js';
import type { PoolRuntime } from '../runtime/pool-runtime.js';
import { classifyUpstreamError } from '../proxy/upstream-errors.js';
import { WebSocketFrameCounter } from './websocket-frame-counter.js';
import { websocketStats } from '../telemetry/websocket-stats.js';

const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A backend's answer head larger than this is not a WebSocket handshake. */
const MAX_HEAD_BYTES = 16 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');
/** After the proxy's own close frame, how long each peer has to answer it and hang up. */
const CLOSE_GRACE_MS = 5000;
const CLOSE_GOING_AWAY = 1001;
const IDLE_REASON = 'idle timeout';
const LIFETIME_REASON = 'max lifetime';

/** Idle and lifetime limits of every tunnel in this worker share one coarse timer. */
const limits = new DeadlineWheel();

export interface TunnelRequest {
  readonly method: string;
  readonly path: string;
  /** Flat header list for the backend, hop-by-hop removed, forwarding headers added. */
  readonly headers: readonly string[];
  readonly key: string;
  readonly pick: PickContext;
}

export function expectedAccept(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

export class WebSocketTunnel implements Expirable {
  /** Next time the limits are checked (performance.now() ms), while on the wheel. */
  deadline = 0;
  previousOnWheel: Expirable | undefined = undefined;
  nextOnWheel: Expirable | undefined = undefined;
  readonly #client: Socket;
  readonly #res: ServerResponse;
  readonly #clientHead: Buffer;
  readonly #request: TunnelRequest;
  readonly #pool: PoolRuntime;
  #backend: Backend | undefined;
  #upstream: Socket | undefined;
  #received: Buffer[] = [];
  #receivedBytes = 0;
  #settled = false;
  /** Set while the tunnel is open (valid 101 seen): the stats count it from then on. */
  #openedAt: number | undefined;
  #lastActivity = 0;
  #idleMs = 0;
  #closeBy = Number.POSITIVE_INFINITY;
  /** The proxy sent its own close frames; waiting for the peers to hang up. */
  #closing = false;
  #toBackend: WebSocketFrameCounter | undefined;
  #toClient: WebSocketFrameCounter | undefined;

  constructor(client: Socket, res: ServerResponse, clientHead: Buffer, request: TunnelRequest, pool: PoolRuntime) {
    this.#client = client;
    this.#res = res;
    this.#clientHead = clientHead;
    this.#request = request;
    this.#pool = pool;
  }

  start(): void {
    const backend = this.#pool.balancer.pick(this.#request.pick) ?? this.#pool.panicPick();
    if (backend === undefined) return this.#fail('VF_ERR_NO_HEALTHY_UPSTREAM');
    this.#backend = backend;
    backend.stats.inFlight++;
    backend.stats.requests++;
    this.#pool.balancer.onStart(backend);

    const upstream = openUpstream(backend.url, this.#pool.upstreamTls);
    this.#upstream = upstream;
    upstream.setTimeout(this.#pool.connectTimeoutMs);
    upstream.once('connect', () => {
      upstream.setTimeout(this.#pool.responseTimeoutMs);
      upstream.write(this.#requestHead());
      if (this.#clientHead.length > 0) upstream.write(this.#clientHead);
    });
    upstream.on('timeout', () => this.#fail('VF_ERR_UPSTREAM_TIMEOUT'));
    upstream.on('data', this.#onHandshakeData);
    upstream.on('error', (err: Error & { code?: string }) => this.#fail(classifyUpstreamError(err).code));
    upstream.once('close', () => this.#onClose());
    this.#client.once('close', () => this.#onClose());
    this.#client.on('error', () => this.#client.destroy());
  }

  #requestHead(): string {
    const { method, path, headers } = this.#request;
    let head = `${method} ${path} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    return `${head}connection: Upgrade\r\nupgrade: websocket\r\n\r\n`;
  }

  /** Collects the backend's answer head, then decides: tunnel, relay, or 502. */
  readonly #onHandshakeData = (chunk: Buffer): void => {
    this.#received.push(chunk);
    this.#receivedBytes += chunk.length;
    const buffered = Buffer.concat(this.#received);
    const end = buffered.indexOf(HEAD_END);
    if (end === -1) {
      if (this.#receivedBytes > MAX_HEAD_BYTES) this.#fail('VF_ERR_UPSTREAM_BAD_RESPONSE');
      return;
    }
    const upstream = this.#upstream!;
    upstream.off('data', this.#onHandshakeData);
    upstream.setTimeout(0);
    this.#received = [];
    const head = buffered.subarray(0, end + HEAD_END.length);
    const rest = buffered.subarray(end + HEAD_END.length);
    const parsed = parseHead(head.toString('latin1'));
    if (parsed === undefined) return this.#fail('VF_ERR_UPSTREAM_BAD_RESPONSE');
    if (parsed.status !== 101) return this.#relay(head, rest, parsed.headers);
    const accepted =
      parsed.headers.get('upgrade')?.toLowerCase() === 'websocket' && parsed.headers.get('sec-websocket-accept') === expectedAccept(this.#request.key);
    if (!accepted) return this.#fail('VF_ERR_UPSTREAM_BAD_RESPONSE');
    this.#settled = true;
    this.#client.write(head);
    this.#open(rest);
  };

  #open(rest: Buffer): void {
    const client = this.#client;
    const upstream = this.#upstream!;
    const now = performance.now();
    this.#openedAt = now;
    this.#lastActivity = now;
    websocketStats.opened++;
    const toBackend = (this.#toBackend = new WebSocketFrameCounter(websocketStats.received));
    const toClient = (this.#toClient = new WebSocketFrameCounter(websocketStats.sent));
    // What the client sent right behind its upgrade head already went to the backend.
    if (this.#clientHead.length > 0) toBackend.push(this.#clientHead);
    if (rest.length > 0) {
      toClient.push(rest);
      client.write(rest);
    }
    // Registered before pipe(), so a counter has seen every byte handed to the other side.
    client.on('data', (chunk: Buffer) => {
      this.#lastActivity = performance.now();
      toBackend.push(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      this.#lastActivity = performance.now();
      toClient.push(chunk);
    });
    // pipe() gives backpressure both ways and ends each side when the other ends.
    upstream.pipe(client);
    client.pipe(upstream);
    upstream.on('error', () => client.destroy());

    // A zero duration turns the limit off.
    const { idleTimeout, maxLifetime } = this.#pool.websocket;
    this.#idleMs = idleTimeout > 0 ? idleTimeout : 0;
    if (maxLifetime !== undefined && maxLifetime > 0) this.#closeBy = now + maxLifetime;
    this.#scheduleLimits(now);
  }

  /** Wheel callback: a limit may have passed, or the close grace has run out. */
  expire(): void {
    if (this.#openedAt === undefined) return;
    if (this.#closing) return this.#destroy();
    this.#scheduleLimits(performance.now());
  }

  #scheduleLimits(now: number): void {
    if (now >= this.#closeBy) return this.#goAway(LIFETIME_REASON);
    const idleAt = this.#idleMs > 0 ? this.#lastActivity + this.#idleMs : Number.POSITIVE_INFINITY;
    if (now >= idleAt) return this.#goAway(IDLE_REASON);
    this.deadline = Math.min(idleAt, this.#closeBy);
    if (this.deadline !== Number.POSITIVE_INFINITY) limits.add(this);
  }

  /**
   * Closes both sides with 1001 "going away". The proxy stops forwarding (a peer must send
   * nothing after its close frame, §5.5.1), so what the peers still send, their own close
   * frames included, is read and dropped; the grace deadline cuts whoever does not hang up.
   */
  #goAway(reason: string): void {
    this.#closing = true;
    const client = this.#client;
    const upstream = this.#upstream!;
    upstream.unpipe(client);
    client.unpipe(upstream);
    client.resume();
    upstream.resume();
    endWithClose(client, this.#toClient!, closeFrame(reason, false));
    endWithClose(upstream, this.#toBackend!, closeFrame(reason, true));
    this.deadline = performance.now() + CLOSE_GRACE_MS;
    limits.add(this);
  }

  /** A non-101 answer (401, 404, ...) reaches the client as the backend sent it. */
  #relay(head: Buffer, rest: Buffer, headers: Map<string, string>): void {
    this.#settled = true;
    const client = this.#client;
    const upstream = this.#upstream!;
    client.write(head);
    const length = Number(headers.get('content-length') ?? Number.NaN);
    if (Number.isInteger(length)) {
      // Exactly the declared body, then both sides close: the backend may keep its side alive.
      let remaining = length - rest.length;
      client.write(rest.subarray(0, length));
      if (remaining <= 0) return void client.end(() => upstream.destroy());
      upstream.on('data', (chunk: Buffer) => {
        client.write(chunk.subarray(0, remaining));
        remaining -= chunk.length;
        if (remaining <= 0) client.end(() => upstream.destroy());
      });
      return;
    }
    if (rest.length > 0) client.write(rest);
    upstream.pipe(client);
  }

  #fail(code: ErrorCode): void {
    if (this.#settled) {
      this.#client.destroy();
      this.#upstream?.destroy();
      return;
    }
    this.#settled = true;
    this.#upstream?.destroy();
    sendError(this.#res, code, true);
  }

  #onClose(): void {
    // While closing on its own, the proxy lets the other peer finish its close handshake.
    if (this.#closing && !(this.#client.destroyed && this.#upstream!.destroyed)) return;
    this.#destroy();
  }

  #destroy(): void {
    this.#client.destroy();
    this.#upstream?.destroy();
    if (this.#openedAt !== undefined) {
      limits.delete(this);
      websocketStats.recordClose((performance.now() - this.#openedAt) / 1000);
      this.#openedAt = undefined;
    }
    const backend = this.#backend;
    if (backend === undefined) return;
    this.#backend = undefined;
    backend.stats.inFlight--;
    this.#pool.balancer.onEnd(backend);
  }
}

/**
 * A close frame is appended only where a frame may start and only if that side has not been
 * sent a close already; otherwise the connection is just ended (or cut, mid-frame).
 */
function endWithClose(socket: Socket, counter: WebSocketFrameCounter, frame: Buffer): void {
  if (socket.writableEnded) return;
  if (counter.closeSeen) socket.end();
  else if (counter.atFrameBoundary) socket.end(frame);
  else socket.destroy();
}

/**
 * A close frame with code 1001 and an ASCII reason (§5.5.1). Frames to a backend are masked
 * with a fresh random key (§5.3); frames to a client never are.
 */
function closeFrame(reason: string, masked: boolean): Buffer {
  const payloadLength = 2 + reason.length;
  const start = masked ? 6 : 2;
  const frame = Buffer.allocUnsafe(start + payloadLength);
  frame[0] = 0x88; // FIN, opcode close
  frame[1] = (masked ? 0x80 : 0) | payloadLength;
  frame.writeUInt16BE(CLOSE_GOING_AWAY, start);
  frame.write(reason, start + 2, 'latin1');
  if (masked) {
    randomFillSync(frame, 2, 4);
    for (let i = 0; i < payloadLength; i++) frame[start + i]! ^= frame[2 + (i & 3)]!;
  }
  return frame;
}

/** Status and lower-cased headers of an HTTP/1.1 response head, or undefined when malformed. */
function parseHead(text: string): { status: number; headers: Map<string, string> } | undefined {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? '');
  if (status === null) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(status[1]), headers };
}

/** A TCP (http://) or TLS (https://, verified as the HTTP pools verify it) connection to a backend. */
function openUpstream(url: URL, tls: PoolRuntime['upstreamTls']): Socket {
  if (url.protocol !== 'https:') return connect({ host: url.hostname, port: Number(url.port || 80), noDelay: true });
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const servername = tls.servername ?? (isIP(host) === 0 ? host : undefined);
  const socket = connectTls({
    host,
    port: Number(url.port || 443),
    ...(servername !== undefined ? { servername } : {}),
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    rejectUnauthorized: tls.rejectUnauthorized,
    ALPNProtocols: ['http/1.1'],
  });
  socket.setNoDelay(true);
  return socket;
}
