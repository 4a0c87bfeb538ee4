/**
 * The h2 sessions of one worker to one backend of a `protocol: h2` pool, behind the same
 * UpstreamDispatcher the exchange uses for HTTP/1.1 (upstream-pool.ts), so routing, balancing,
 * retries, timeouts, metrics and logs do not know which protocol a backend speaks.
 *
 * Calls share a session, one stream each. A new session opens only when every open one is at the
 * backend's concurrent stream limit (or has been retired by a GOAWAY), up to `maxConnections`;
 * past that calls wait in order for a free stream, as HTTP/1.1 calls wait for a connection.
 */
import type { DeadlineWheel } from '../deadline-wheel.js';
import type { AddressGuard } from './address-guard.js';
import { upstreamOrigin } from './upstream-origin.js';
import { CallQueue } from './call-queue.js';
import { H2Session, type H2Target, type H2Timeouts, type SessionOwner } from './h2-session.js';
import { UpstreamCall, UpstreamError, type CallOwner, type UpstreamDispatcher, type UpstreamHandler, type UpstreamRequest } from './upstream-call.js';
import type { UpstreamPoolOptions } from './upstream-pool.js';

export class H2UpstreamPool implements SessionOwner, CallOwner, UpstreamDispatcher {
  readonly origin: string;
  readonly #target: H2Target;
  readonly #guard: AddressGuard | undefined;
  readonly #timeouts: H2Timeouts;
  readonly #maxSessions: number;
  readonly #wheel: DeadlineWheel;
  /** Every session not yet closed. */
  readonly #sessions = new Set<H2Session>();
  /** Sessions that take new streams (connected or connecting, not retired). */
  readonly #usable: H2Session[] = [];
  readonly #pending = new CallQueue();
  #closing = false;
  #closedPromise: Promise<void> | undefined;
  #closed: (() => void) | undefined;

  constructor(origin: string, options: UpstreamPoolOptions, wheel: DeadlineWheel) {
    this.#wheel = wheel;
    const target = upstreamOrigin(origin, options);
    this.origin = target.origin;
    this.#guard = target.guard;
    this.#target = { origin: target.origin, scheme: target.https ? 'https' : 'http', authority: target.authority, responseMs: options.responseTimeoutMs, ...target.lookup, ...target.tls };
    this.#timeouts = { connectMs: options.connectTimeoutMs, keepAliveMs: options.keepAliveMs };
    this.#maxSessions = options.maxConnections;
  }

  /** Sessions open or opening, streams running on them, and calls waiting (for tests). */
  get connections(): { open: number; streams: number; pending: number } {
    let streams = 0;
    for (const session of this.#sessions) streams += session.streams;
    return { open: this.#sessions.size, streams, pending: this.#pending.length };
  }

  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    const call = new UpstreamCall(request, handler, this);
    handler.onConnect(call);
    if (call.finished) return;
    if (this.#closing) return call.fail(new UpstreamError('UPSTREAM_POOL_CLOSED', `the pool for ${this.origin} is closed`));
    const session = this.#withRoom();
    if (session !== undefined) return session.run(call);
    this.#pending.push(call);
    this.#openIfNeeded();
  }

  close(): Promise<void> {
    if (this.#closedPromise !== undefined) return this.#closedPromise;
    this.#closing = true;
    this.#closedPromise = new Promise((resolve) => {
      this.#closed = resolve;
    });
    for (const session of [...this.#sessions]) if (session.streams === 0 && !session.connecting) session.close();
    if (this.#sessions.size === 0) this.#closed!();
    return this.#closedPromise;
  }

  destroy(): void {
    this.#closing = true;
    const notRun = new UpstreamError('UPSTREAM_POOL_CLOSED', `the pool for ${this.origin} was destroyed`);
    for (const call of this.#pending.drain()) call.fail(notRun);
    const running = new UpstreamError('UPSTREAM_POOL_DESTROYED', `the pool for ${this.origin} was destroyed during the call`);
    for (const session of [...this.#sessions]) session.destroy(running);
  }

  // CallOwner.

  abortCall(call: UpstreamCall, reason: Error): void {
    if (call.connection !== undefined) return call.connection.abortCall(call, reason);
    this.#pending.forget(call);
    call.fail(reason);
  }

  // SessionOwner.

  sessionReady(session: H2Session): void {
    while (session.hasRoom) {
      const next = this.#pending.shift();
      if (next === undefined) break;
      session.run(next);
    }
    if (this.#closing && session.streams === 0) session.close();
  }

  sessionRetired(session: H2Session): void {
    const at = this.#usable.indexOf(session);
    if (at !== -1) this.#usable.splice(at, 1);
    this.#openIfNeeded();
  }

  sessionClosed(session: H2Session, connectError: Error | undefined): void {
    this.#sessions.delete(session);
    const at = this.#usable.indexOf(session);
    if (at !== -1) this.#usable.splice(at, 1);
    if (connectError !== undefined) {
      // As for HTTP/1.1: the call that waits longest gets the error; with no session left to
      // serve the rest, the backend is unreachable for all of them.
      this.#pending.shift()?.fail(connectError);
      if (this.#sessions.size === 0) for (const call of this.#pending.drain()) call.fail(connectError);
    }
    this.#openIfNeeded();
    if (this.#closing && this.#sessions.size === 0) {
      const reason = new UpstreamError('UPSTREAM_POOL_CLOSED', `the pool for ${this.origin} is closed`);
      for (const call of this.#pending.drain()) call.fail(reason);
      this.#closed?.();
    }
  }

  replay(call: UpstreamCall): void {
    if (this.#closing && this.#sessions.size === 0) return call.fail(new UpstreamError('UPSTREAM_POOL_CLOSED', `the pool for ${this.origin} is closed`));
    const session = this.#withRoom();
    if (session !== undefined) return session.run(call);
    this.#pending.unshift(call);
    this.#openIfNeeded();
  }

  #withRoom(): H2Session | undefined {
    for (const session of this.#usable) if (session.hasRoom) return session;
    return undefined;
  }

  /** Calls wait and no usable session is connecting or has room: open one, within the limit. */
  #openIfNeeded(): void {
    if (this.#pending.length === 0 || this.#sessions.size >= this.#maxSessions) return;
    for (const session of this.#usable) if (session.connecting || session.hasRoom) return;
    // connect() does not look an address up, so the guard's lookup never sees one: checked here.
    const refused = this.#guard?.refusalOfAddress();
    if (refused !== undefined) {
      for (const call of this.#pending.drain()) call.fail(refused);
      return;
    }
    const session = new H2Session(this, this.#target, this.#timeouts, this.#wheel);
    this.#sessions.add(session);
    this.#usable.push(session);
  }
}
