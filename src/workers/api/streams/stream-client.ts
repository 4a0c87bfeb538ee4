/** One WebSocket connected to a stream: the audience it reads once known, and the state the hub's ticker reads. */
import type { WebSocket } from 'ws';
import { ANONYMOUS, type StreamAudience, type StreamChannel } from './stream-channel.js';

export class StreamClient {
  readonly socket: WebSocket;
  readonly channel: StreamChannel;
  /** ANONYMOUS until an `auth` message proves an identity; then null (no tenant) or the user's tenant. */
  audience: StreamAudience = ANONYMOUS;
  /** performance.now() after which a client that has not authenticated is closed; Infinity when none is due. */
  authDeadline = Number.POSITIVE_INFINITY;
  /** A ping went out and no pong came back yet. */
  awaitingPong = false;

  constructor(socket: WebSocket, channel: StreamChannel) {
    this.socket = socket;
    this.channel = channel;
  }
}
