/**
 * The WebSocket streams of the main API (`/api/ws/<stream>`, DESIGN.md §2), at transport level: the
 * API server hands it every upgrade request under /api/ws/. It owns the handshake (path, Origin),
 * the `auth` exchange, fan-out of what the worker publishes, keepalive and the
 * slow-consumer limit. Publishing is the caller's job: the primary sends one update per tick and each
 * worker calls `publish` once, so no stream does per-connection timers or queries.
 *
 * Audiences: every client reads one view of each publish, chosen by the identity its token proves
 * (stream-channel.ts): ANONYMOUS on a public stream until it authenticates, then its tenant, or null
 * (the whole-cluster view) for a user without a tenant. A publish is a view function, so what each
 * audience may see is decided in one place by the feeder; the hub never sends an audience anything
 * its view did not return, and a private stream has no anonymous audience at all.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { StreamName } from '../../../shared/api-feed.js';
import { VelofluxError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/log.js';
import { OriginPolicy } from './origin-policy.js';
import { StreamChannel, type StreamView } from './stream-channel.js';
import { StreamClient } from './stream-client.js';
import {
  AUTH_OK_MESSAGE,
  AUTH_REQUIRED_MESSAGE,
  STREAM_CLOSE_CODES,
  STREAM_PATH_PREFIX,
  parseAuthMessage,
} from './stream-protocol.js';
import { rejectUpgrade } from './upgrade-rejection.js';

export interface StreamDefinition {
  name: StreamName;
  /** Private streams need an `auth` message first and are scoped to the user's tenant. */
  private: boolean;
}

export interface StreamIdentity {
  tenant: string | null;
  subject: string;
  /** The session the token belongs to, for `revalidate`. */
  session?: string;
}

export interface StreamHubOptions {
  streams: readonly StreamDefinition[];
  /** Exact origins allowed besides the same origin and clients without Origin; `*` allows all. */
  allowedOrigins: readonly string[];
  /** A client whose unsent bytes exceed this when a message is due is dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Default 25 s: under the 30-60 s idle timeouts of common proxies and NATs. */
  pingIntervalMs?: number;
  /** How long a private-stream client may take to send `auth`. Default 10 s. */
  authTimeoutMs?: number;
  /** Returns the identity behind an access token, or undefined (or throws, or rejects) when it is not valid. */
  verifyToken: (token: string) => StreamIdentity | undefined | Promise<StreamIdentity | undefined>;
  log: Pick<Logger, 'debug' | 'warn'>;
}

export interface StreamHubStats {
  /** Open clients per stream, including those still authenticating. */
  clients: Record<string, number>;
  awaitingAuth: number;
  droppedSlowConsumers: number;
  /** Clients that did not answer a ping before the next one. */
  droppedDead: number;
  /** Clients closed with 4401: bad or missing `auth`, rejected token, timeout. */
  rejectedAuth: number;
}

const DEFAULTS = { maxBufferedBytes: 1024 * 1024, pingIntervalMs: 25_000, authTimeoutMs: 10_000 } as const;
/** Clients only ever send an `auth` message; anything larger is abuse (ws closes with 1009). */
const MAX_CLIENT_MESSAGE_BYTES = 16 * 1024;
/** The ticker's period at most: auth deadlines are enforced within this much after they pass. */
const MAX_TICK_MS = 1000;
const STREAM_NAME = /^[a-z][a-z0-9-]*$/;
const TEXT_FRAME = { binary: false } as const;

export class StreamHub {
  readonly #channels = new Map<string, StreamChannel>();
  readonly #origins: OriginPolicy;
  readonly #server: WebSocketServer;
  readonly #maxBufferedBytes: number;
  readonly #pingIntervalMs: number;
  readonly #authTimeoutMs: number;
  readonly #verifyToken: StreamHubOptions['verifyToken'];
  readonly #log: StreamHubOptions['log'];
  readonly #clients = new Set<StreamClient>();
  readonly #awaitingAuth = new Set<StreamClient>();
  /** Who each authenticated private-stream client is, for `revalidate`. */
  readonly #identities = new Map<StreamClient, StreamIdentity>();
  /** One timer for the whole hub: auth deadlines and keepalive, never a timer per connection. */
  readonly #ticker: NodeJS.Timeout;
  readonly #tickMs: number;
  #nextPingAt: number;
  #droppedSlowConsumers = 0;
  #droppedDead = 0;
  #rejectedAuth = 0;

  constructor(options: StreamHubOptions) {
    const maxBufferedBytes = options.maxBufferedBytes ?? DEFAULTS.maxBufferedBytes;
    const pingIntervalMs = options.pingIntervalMs ?? DEFAULTS.pingIntervalMs;
    const authTimeoutMs = options.authTimeoutMs ?? DEFAULTS.authTimeoutMs;
    const problems: string[] = [];
    for (const [i, stream] of options.streams.entries()) {
      if (!STREAM_NAME.test(stream.name)) problems.push(`streams[${i}].name: "${stream.name}" is not a lowercase stream name`);
      else if (this.#channels.has(STREAM_PATH_PREFIX + stream.name)) problems.push(`streams[${i}].name: duplicate stream "${stream.name}"`);
      else this.#channels.set(STREAM_PATH_PREFIX + stream.name, new StreamChannel(stream.name, stream.private));
    }
    for (const [name, value] of [['maxBufferedBytes', maxBufferedBytes], ['pingIntervalMs', pingIntervalMs], ['authTimeoutMs', authTimeoutMs]] as const) {
      if (!Number.isInteger(value) || value <= 0) problems.push(`${name}: must be a positive integer, got ${value}`);
    }
    if (problems.length > 0) throw new VelofluxError('VF_ERR_CONFIG_INVALID', `Invalid stream hub options: ${problems.join('; ')}`);

    this.#origins = new OriginPolicy(options.allowedOrigins);
    this.#maxBufferedBytes = maxBufferedBytes;
    this.#pingIntervalMs = pingIntervalMs;
    this.#authTimeoutMs = authTimeoutMs;
    this.#verifyToken = options.verifyToken;
    this.#log = options.log;
    // Compression would copy and deflate every message once per client; the fan-out relies on
    // sending one shared Buffer. clientTracking is off because the hub tracks its own clients.
    this.#server = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE_BYTES, perMessageDeflate: false, clientTracking: false });
    this.#server.on('wsClientError', (error, socket) => rejectUpgrade(socket, 'VF_ERR_BAD_REQUEST', error.message));
    this.#tickMs = Math.min(MAX_TICK_MS, pingIntervalMs, authTimeoutMs);
    this.#nextPingAt = performance.now() + pingIntervalMs;
    this.#ticker = setInterval(() => this.#tick(), this.#tickMs);
    this.#ticker.unref();
  }

  /** Call from the HTTP server's 'upgrade' event for every path under `/api/ws/`. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = req.url ?? '';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const channel = this.#channels.get(path);
    if (channel === undefined) return rejectUpgrade(socket, 'VF_ERR_NOT_FOUND', `No stream at ${path}`);
    if (req.method !== 'GET') return rejectUpgrade(socket, 'VF_ERR_METHOD_NOT_ALLOWED');
    // Checked before the handshake so a refused page never holds an open WebSocket.
    if (!this.#origins.allows(req.headers.origin, req.headers.host)) return rejectUpgrade(socket, 'VF_ERR_ORIGIN_NOT_ALLOWED');
    this.#server.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, channel));
  }

  /**
   * Sends every subscriber of `stream` what `view` returns for its audience and keeps the view as
   * the snapshot for clients that connect or authenticate later. The view runs, and its result is
   * serialised, once per audience with subscribers, whatever the fan-out. With `snapshot`, `view`
   * is an update (each new event) and clients that connect later get `snapshot` first instead.
   */
  publish(stream: StreamName, view: StreamView, snapshot?: StreamView): void {
    const channel = this.#channels.get(STREAM_PATH_PREFIX + stream);
    if (channel === undefined) throw new RangeError(`Unknown stream "${stream}"`);
    channel.publish(view, Date.now(), this.#deliver, snapshot);
  }

  readonly #deliver = (client: StreamClient, message: Buffer): void => this.#send(client, message);

  stats(): StreamHubStats {
    const clients: Record<string, number> = {};
    for (const channel of this.#channels.values()) clients[channel.name] = 0;
    for (const client of this.#clients) clients[client.channel.name]! += 1;
    return {
      clients,
      awaitingAuth: this.#awaitingAuth.size,
      droppedSlowConsumers: this.#droppedSlowConsumers,
      droppedDead: this.#droppedDead,
      rejectedAuth: this.#rejectedAuth,
    };
  }

  /**
   * Closes, with 4401, every authenticated client whose identity `isLive` now refuses (its session
   * ended, its user was disabled or deleted: issue 14, item 4). The API calls it when the state
   * those depend on changes, so a revoked session loses its streams as fast as its REST access.
   */
  async revalidate(isLive: (identity: StreamIdentity) => boolean | Promise<boolean>): Promise<number> {
    let closed = 0;
    for (const [client, identity] of [...this.#identities]) {
      if ((await isLive(identity)) || !this.#identities.has(client)) continue;
      closed++;
      this.#refuseAuth(client, 'session ended');
    }
    return closed;
  }

  /** Closes every client with 1001 (going away) and stops the ticker; later upgrades get 503. */
  close(): void {
    clearInterval(this.#ticker);
    for (const client of this.#clients) {
      this.#forget(client);
      client.socket.close(STREAM_CLOSE_CODES.goingAway, 'server shutting down');
    }
    this.#server.close();
  }

  #accept(socket: WebSocket, channel: StreamChannel): void {
    const client = new StreamClient(socket, channel);
    this.#clients.add(client);
    socket.on('error', (error) => this.#log.debug({ err: error, stream: channel.name }, 'stream client error'));
    socket.on('close', () => this.#forget(client));
    socket.on('pong', () => {
      client.awaitingPong = false;
    });
    // Only the first message matters; later ones are read (bounded by maxPayload) and ignored.
    socket.once('message', (data, isBinary) => this.#authenticate(client, data, isBinary));
    // A public stream serves the anonymous view at once; `auth` may upgrade it later.
    if (!channel.isPrivate) return this.#subscribe(client);
    client.authDeadline = performance.now() + this.#authTimeoutMs;
    this.#awaitingAuth.add(client);
    this.#send(client, AUTH_REQUIRED_MESSAGE);
  }

  #authenticate(client: StreamClient, data: RawData, isBinary: boolean): void {
    if (!this.#clients.has(client)) return; // timed out or closed meanwhile
    this.#awaitingAuth.delete(client);
    client.authDeadline = Number.POSITIVE_INFINITY;
    const token = parseAuthMessage(data, isBinary);
    if (token === undefined) return this.#refuseAuth(client, 'authentication failed');
    void this.#identify(token).then((identity) => {
      if (!this.#clients.has(client)) return; // closed while the token was checked
      if (identity === undefined) return this.#refuseAuth(client, 'authentication failed');
      // Off the anonymous view (public streams) before anything of the user's view is sent.
      client.channel.unsubscribe(client);
      client.audience = identity.tenant;
      this.#identities.set(client, identity);
      this.#send(client, AUTH_OK_MESSAGE);
      this.#subscribe(client);
    });
  }

  async #identify(token: string): Promise<StreamIdentity | undefined> {
    try {
      return await this.#verifyToken(token);
    } catch (error) {
      this.#log.debug({ err: error }, 'stream token rejected');
      return undefined;
    }
  }

  #refuseAuth(client: StreamClient, reason: string): void {
    this.#rejectedAuth += 1;
    this.#forget(client);
    client.socket.close(STREAM_CLOSE_CODES.authFailed, reason);
  }

  #subscribe(client: StreamClient): void {
    const snapshot = client.channel.subscribe(client);
    if (snapshot !== undefined) this.#send(client, snapshot);
  }

  /**
   * Node buffers whatever the kernel does not take; a client that stops reading would make that
   * buffer grow with every publish. Past the limit the client is dropped instead, so a client costs
   * at most maxBufferedBytes plus one message (the messages themselves are shared between clients).
   */
  #send(client: StreamClient, message: Buffer): void {
    const { socket } = client;
    if (socket.readyState !== WebSocket.OPEN) return;
    if (socket.bufferedAmount > this.#maxBufferedBytes) {
      this.#droppedSlowConsumers += 1;
      this.#log.warn({ stream: client.channel.name, bufferedBytes: socket.bufferedAmount }, 'dropping a slow stream consumer');
      this.#forget(client);
      socket.terminate();
      return;
    }
    socket.send(message, TEXT_FRAME);
  }

  #forget(client: StreamClient): void {
    this.#clients.delete(client);
    this.#awaitingAuth.delete(client);
    this.#identities.delete(client);
    client.channel.unsubscribe(client);
  }

  #tick(): void {
    const now = performance.now();
    for (const client of this.#awaitingAuth) {
      if (client.authDeadline <= now) this.#refuseAuth(client, 'authentication timed out');
    }
    // Half a tick of slack: an interval may fire a hair before the clock says it is due.
    if (now >= this.#nextPingAt - this.#tickMs / 2) {
      this.#nextPingAt = now + this.#pingIntervalMs;
      this.#pingEveryClient();
    }
  }

  /** RFC 6455 §5.5.2: a peer must answer a ping; one that missed a whole interval is gone. */
  #pingEveryClient(): void {
    for (const client of this.#clients) {
      const { socket } = client;
      if (client.awaitingPong) {
        this.#droppedDead += 1;
        this.#log.debug({ stream: client.channel.name }, 'dropping a stream client that stopped answering pings');
        this.#forget(client);
        socket.terminate();
      } else if (socket.readyState === WebSocket.OPEN) {
        client.awaitingPong = true;
        socket.ping();
      }
    }
  }
}
