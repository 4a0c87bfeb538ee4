/**
 * The keep-alive connections of one worker to one backend (DESIGN.md §3: the lean upstream
 * client). Calls take an idle connection (the most recently used, least likely to have been
 * closed by the backend), else wait in order while a new connection opens, up to
 * `maxConnections`; past that they queue until a connection frees up.
 *
 * It does what the proxy needs and nothing else (no pipelining, no redirects, no decompression),
 * which is where it saves the time a general-purpose client spends per request.
 */
import type { DeadlineWheel } from '../deadline-wheel.js';
import type { BackendAddressPolicy } from '../../shared/backend-address-policy.js';
import type { AddressGuard } from './address-guard.js';
import { upstreamOrigin } from './upstream-origin.js';
import { CallQueue } from './call-queue.js';
import { UpstreamConnection, type ConnectTarget, type ConnectionOwner, type ConnectionTimeouts } from './upstream-connection.js';
import { UpstreamCall, UpstreamError, type CallOwner, type UpstreamDispatcher, type UpstreamHandler, type UpstreamRequest } from './upstream-call.js';

export interface UpstreamPoolOptions {
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  /** Idle connections are closed after this; keep it below the backend's own keep-alive. */
  readonly keepAliveMs: number;
  readonly maxConnections: number;
  /** For https:// origins. */
  readonly tls: { ca: string | undefined; servername: string | undefined; rejectUnauthorized: boolean };
  /** A tenant's backend: every connection is held to its backend address policy (address-guard.ts). */
  readonly addressPolicy?: BackendAddressPolicy;
  /** What the backend speaks (pools[].protocol): `h2` gets an H2UpstreamPool instead. */
  readonly protocol?: 'http1' | 'h2';
}

export class UpstreamPool implements ConnectionOwner, CallOwner, UpstreamDispatcher {
  readonly origin: string;
  readonly #target: ConnectTarget;
  /** Present for a tenant's backend. */
  readonly #guard: AddressGuard | undefined;
  readonly #timeouts: ConnectionTimeouts;
  readonly #maxConnections: number;
  /** The worker's one timer wheel: connect, response and keep-alive deadlines. */
  readonly #wheel: DeadlineWheel;
  /** Every connection not yet closed, connecting ones included. */
  readonly #connections = new Set<UpstreamConnection>();
  /** Idle connections, the most recently used last. */
  readonly #idle: UpstreamConnection[] = [];
  /** Calls waiting for a connection, in arrival order. */
  readonly #pending = new CallQueue();
  #closing = false;
  #closedPromise: Promise<void> | undefined;
  #closed: (() => void) | undefined;

  constructor(origin: string, options: UpstreamPoolOptions, wheel: DeadlineWheel) {
    this.#wheel = wheel;
    const target = upstreamOrigin(origin, options);
    this.origin = target.origin;
    this.#guard = target.guard;
    this.#target = { host: target.host, port: target.port, hostHeader: target.authority, ...target.lookup, ...target.tls };
    this.#timeouts = { connectMs: options.connectTimeoutMs, responseMs: options.responseTimeoutMs, keepAliveMs: options.keepAliveMs };
    this.#maxConnections = options.maxConnections;
  }

  /** Connections open or opening, how many of them are idle, and the calls waiting (for tests). */
  get connections(): { open: number; idle: number; pending: number } {
    return { open: this.#connections.size, idle: this.#idle.length, pending: this.#pending.length };
  }

  /** Sends `request`; the outcome reaches `handler` (see UpstreamHandler). */
  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    const call = new UpstreamCall(request, handler, this);
    handler.onConnect(call);
    if (call.finished) return;
    if (this.#closing) return call.fail(new UpstreamError('UPSTREAM_POOL_CLOSED', `the pool for ${this.origin} is closed`));
    const idle = this.#idle.pop();
    if (idle !== undefined) return idle.run(call);
    this.#pending.push(call);
    if (this.#connections.size < this.#maxConnections) this.#open();
  }

  /** No new calls; those queued or running finish; resolves once every connection is closed. */
  close(): Promise<void> {
    if (this.#closedPromise !== undefined) return this.#closedPromise;
    this.#closing = true;
    this.#closedPromise = new Promise((resolve) => {
      this.#closed = resolve;
    });
    for (const connection of this.#idle.splice(0)) connection.close();
    if (this.#connections.size === 0) this.#closed!();
    return this.#closedPromise;
  }

  /** Closes every connection now; calls queued or running fail. */
  destroy(): void {
    this.#closing = true;
    const notRun = new UpstreamError('UPSTREAM_POOL_CLOSED', `the pool for ${this.origin} was destroyed`);
    for (const call of this.#pending.drain()) call.fail(notRun);
    const running = new UpstreamError('UPSTREAM_POOL_DESTROYED', `the pool for ${this.origin} was destroyed during the call`);
    for (const connection of [...this.#connections]) connection.close(running);
  }

  // CallOwner.

  abortCall(call: UpstreamCall, reason: Error): void {
    if (call.connection !== undefined) return call.connection.abortCall(call, reason);
    this.#pending.forget(call);
    call.fail(reason);
  }

  // ConnectionOwner.

  connectionReady(connection: UpstreamConnection): void {
    const next = this.#pending.shift();
    if (next !== undefined) return connection.run(next);
    if (this.#closing) return connection.close();
    this.#idle.push(connection);
  }

  connectionClosed(connection: UpstreamConnection, connectError: Error | undefined): void {
    this.#connections.delete(connection);
    const idleAt = this.#idle.indexOf(connection);
    if (idleAt !== -1) this.#idle.splice(idleAt, 1);
    if (connectError !== undefined) {
      // The call that waits longest gets the error; if no connection is left to serve the rest,
      // the backend is unreachable for all of them.
      this.#pending.shift()?.fail(connectError);
      if (this.#connections.size === 0) for (const call of this.#pending.drain()) call.fail(connectError);
    } else if (this.#pending.length > 0 && this.#connections.size < this.#maxConnections) {
      // Calls still wait (closing or not, queued calls are served): replace the connection.
      this.#open();
    }
    if (this.#closing && this.#connections.size === 0) {
      const reason = new UpstreamError('UPSTREAM_POOL_CLOSED', `the pool for ${this.origin} is closed`);
      for (const call of this.#pending.drain()) call.fail(reason);
      this.#closed?.();
    }
  }

  replay(call: UpstreamCall): void {
    if (this.#closing && this.#connections.size === 0) return call.fail(new UpstreamError('UPSTREAM_POOL_CLOSED', `the pool for ${this.origin} is closed`));
    // A fresh connection: the idle ones are as old as the one the backend just closed.
    this.#pending.unshift(call);
    if (this.#connections.size < this.#maxConnections) this.#open();
  }

  #open(): void {
    // connect() does not look an address up, so the guard's lookup never sees one: checked here.
    const refused = this.#guard?.refusalOfAddress();
    if (refused !== undefined) {
      for (const call of this.#pending.drain()) call.fail(refused);
      return;
    }
    this.#connections.add(new UpstreamConnection(this, this.#target, this.#timeouts, this.#wheel));
  }
}
