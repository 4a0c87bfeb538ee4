/** One WebSocket connected to a stream: its tenant scope once known, and the state the hub's ticker reads. */
import type { WebSocket } from 'ws';
import type { StreamChannel } from './stream-channel.js';

export class StreamClient {
  readonly socket: WebSocket;
  readonly channel: StreamChannel;
  /** The scope this client reads: null for anonymous readers of public streams and for tenant-less users. */
  tenant: string | null = null;
  /** performance.now() after which a client that has not authenticated is closed; Infinity when none is due. */
  authDeadline = Number.POSITIVE_INFINITY;
  /** A ping went out and no pong came back yet. */
  awaitingPong = false;

  constructor(socket: WebSocket, channel: StreamChannel) {
    this.socket = socket;
    this.channel = channel;
  }
}
