/**
 * One open WebSocket: the client's connection and the backend's, after the backend answered
 * the upgrade with a valid 101 (the exchange decided that, on the one attempt path every request
 * takes). The tunnel pipes both ways with backpressure; either side closing ends the other
 * (close frames pass through untouched, so close codes arrive as sent). It is two sockets and
 * knows nothing of the runtime, so config swaps never touch it; when it closes it tells its
 * owner (the exchange), which releases the backend and writes the access log line.
 *
 * Frame headers are read on the way through (never the payloads) to count messages, and so that
 * the pool's idle timeout and max lifetime can end a tunnel with a proper close frame, 1001
 * "going away" (RFC 6455 §7.4.1), to each side instead of a bare TCP reset.
 */
import { randomFillSync } from 'node:crypto';
import type { Socket } from 'node:net';
import type { PoolConfig } from '../../shared/config/schema.js';
import type { DeadlineWheel, Expirable } from '../deadline-wheel.js';
import type { Termination } from '../telemetry/access-log.js';
import type { WebSocketStats } from '../telemetry/websocket-stats.js';
import { WebSocketFrameCounter } from './websocket-frame-counter.js';

/** After the proxy's own close frame, how long each peer has to answer it and hang up. */
const CLOSE_GRACE_MS = 5000;
const CLOSE_GOING_AWAY = 1001;
const IDLE_REASON = 'idle timeout';
const LIFETIME_REASON = 'max lifetime';

/** What one session carried, for the access log and per-route metering. */
export interface TunnelTotals {
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
  readonly messagesFromClient: number;
  readonly messagesToClient: number;
  /** How long it was open. */
  readonly seconds: number;
}

/** Told once, when both sockets are gone: who ended the tunnel and what it carried. */
export interface TunnelOwner {
  tunnelClosed(termination: Termination, session: TunnelTotals): void;
}

export class WebSocketTunnel implements Expirable {
  /** Next time the limits are checked (performance.now() ms), while on the wheel. */
  deadline = 0;
  previousOnWheel: Expirable | undefined = undefined;
  nextOnWheel: Expirable | undefined = undefined;
  readonly #owner: TunnelOwner;
  readonly #client: Socket;
  readonly #upstream: Socket;
  readonly #settings: PoolConfig['websocket'];
  readonly #wheel: DeadlineWheel;
  readonly #stats: WebSocketStats;
  readonly #toBackend: WebSocketFrameCounter;
  readonly #toClient: WebSocketFrameCounter;
  #openedAt = 0;
  #lastActivity = 0;
  #idleMs = 0;
  #closeBy = Number.POSITIVE_INFINITY;
  #bytesFromClient = 0;
  #bytesToClient = 0;
  /** Who ended it: the first side to close, or the proxy's own limits. */
  #termination: Termination | undefined;
  /** The proxy sent its own close frames; waiting for the peers to hang up. */
  #closing = false;
  #closed = false;

  constructor(owner: TunnelOwner, client: Socket, upstream: Socket, settings: PoolConfig['websocket'], wheel: DeadlineWheel, stats: WebSocketStats) {
    this.#owner = owner;
    this.#client = client;
    this.#upstream = upstream;
    this.#settings = settings;
    this.#wheel = wheel;
    this.#stats = stats;
    this.#toBackend = new WebSocketFrameCounter(stats.received);
    this.#toClient = new WebSocketFrameCounter(stats.sent);
    // The upstream connection's own listeners are gone: errors end the tunnel from here on.
    upstream.on('error', () => upstream.destroy());
  }

  /**
   * Starts piping. `clientHead`: what the client sent right behind its upgrade head (held until
   * the backend switched); `upstreamHead`: what the backend sent right behind its 101.
   */
  open(clientHead: Buffer, upstreamHead: Buffer): void {
    const client = this.#client;
    const upstream = this.#upstream;
    const now = performance.now();
    this.#openedAt = now;
    this.#lastActivity = now;
    this.#stats.opened++;
    if (clientHead.length > 0) {
      this.#fromClient(clientHead);
      upstream.write(clientHead);
    }
    if (upstreamHead.length > 0) {
      this.#fromUpstream(upstreamHead);
      client.write(upstreamHead);
    }
    // Registered before pipe(), so a counter has seen every byte handed to the other side.
    client.on('data', this.#fromClient);
    upstream.on('data', this.#fromUpstream);
    // pipe() gives backpressure both ways and ends each side when the other ends.
    upstream.pipe(client);
    client.pipe(upstream);
    client.once('close', this.#onClientClose);
    upstream.once('close', this.#onUpstreamClose);

    // A zero duration turns the limit off.
    const { idleTimeout, maxLifetime } = this.#settings;
    this.#idleMs = idleTimeout > 0 ? idleTimeout : 0;
    if (maxLifetime !== undefined && maxLifetime > 0) this.#closeBy = now + maxLifetime;
    this.#scheduleLimits(now);
  }

  readonly #fromClient = (chunk: Buffer): void => {
    this.#lastActivity = performance.now();
    this.#bytesFromClient += chunk.length;
    this.#toBackend.push(chunk);
  };

  readonly #fromUpstream = (chunk: Buffer): void => {
    this.#lastActivity = performance.now();
    this.#bytesToClient += chunk.length;
    this.#toClient.push(chunk);
  };

  /** Wheel callback: a limit may have passed, or the close grace has run out. */
  expire(): void {
    if (this.#closed) return;
    if (this.#closing) return this.#destroy();
    this.#scheduleLimits(performance.now());
  }

  #scheduleLimits(now: number): void {
    if (now >= this.#closeBy) return this.#goAway(LIFETIME_REASON);
    const idleAt = this.#idleMs > 0 ? this.#lastActivity + this.#idleMs : Number.POSITIVE_INFINITY;
    if (now >= idleAt) return this.#goAway(IDLE_REASON);
    this.deadline = Math.min(idleAt, this.#closeBy);
    if (this.deadline !== Number.POSITIVE_INFINITY) this.#wheel.add(this);
  }

  /**
   * Closes both sides with 1001 "going away". The proxy stops forwarding (a peer must send
   * nothing after its close frame, §5.5.1), so what the peers still send, their own close
   * frames included, is read and dropped; the grace deadline cuts whoever does not hang up.
   */
  #goAway(reason: string): void {
    this.#closing = true;
    this.#termination ??= 'timeout';
    const client = this.#client;
    const upstream = this.#upstream;
    upstream.unpipe(client);
    client.unpipe(upstream);
    client.resume();
    upstream.resume();
    endWithClose(client, this.#toClient, closeFrame(reason, false));
    endWithClose(upstream, this.#toBackend, closeFrame(reason, true));
    this.deadline = performance.now() + CLOSE_GRACE_MS;
    this.#wheel.add(this);
  }

  readonly #onClientClose = (): void => this.#onClose('client');
  readonly #onUpstreamClose = (): void => this.#onClose('upstream');

  #onClose(side: Termination): void {
    this.#termination ??= side;
    // While closing on its own, the proxy lets the other peer finish its close handshake.
    if (this.#closing && !(this.#client.destroyed && this.#upstream.destroyed)) return;
    this.#destroy();
  }

  #destroy(): void {
    this.#client.destroy();
    this.#upstream.destroy();
    if (this.#closed) return;
    this.#closed = true;
    this.#wheel.delete(this);
    const seconds = (performance.now() - this.#openedAt) / 1000;
    this.#stats.recordClose(seconds);
    this.#owner.tunnelClosed(this.#termination ?? 'complete', {
      bytesFromClient: this.#bytesFromClient,
      bytesToClient: this.#bytesToClient,
      messagesFromClient: this.#toBackend.messages,
      messagesToClient: this.#toClient.messages,
      seconds,
    });
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
