/**
 * One `/api/ws/<stream>` connection that keeps itself alive (DESIGN.md §2, stream protocol in
 * src/workers/api/streams/stream-protocol.ts). The server sends a snapshot on connect and then
 * updates; this keeps the newest one, says how fresh it is, and reconnects with backoff when the
 * connection drops, keeping the last data on screen marked stale meanwhile.
 *
 * Public streams send the anonymous view at once; a client with a token sends `auth` first and
 * ignores data until `auth_ok`, so a logged-in page never flashes the anonymous aggregates.
 */

export type StreamPhase =
  /** First connection, nothing received yet. */
  | 'connecting'
  /** Data arrives on time. */
  | 'live'
  /** Connected, but nothing arrived for longer than the stream's period allows. */
  | 'stale'
  /** The connection dropped; the next attempt is scheduled. */
  | 'reconnecting';

export interface StreamSnapshot<T> {
  readonly phase: StreamPhase;
  readonly data: T | undefined;
  /** The server's time of `data` (ms since epoch). */
  readonly ts: number | undefined;
  /** The message before `data` (for rates from cumulative counters), if one came on this page. */
  readonly previous: { readonly data: T; readonly ts: number } | undefined;
  /** Failed attempts since the last good message. */
  readonly attempts: number;
  /** When the next attempt starts (ms since epoch), while reconnecting. */
  readonly retryAt: number | undefined;
}

export interface StreamSocketOptions {
  /** The access token to authenticate with, if logged in. */
  token(): string | undefined;
  /** Called when the server refused the token (close 4401): renew it before the next attempt. */
  renewToken(): Promise<boolean>;
  /** No message for this long marks the data stale (the feed streams publish every 1 s or 5 s). */
  staleAfterMs: number;
}

/** Backoff between attempts: quick at first (a restart takes a few seconds), capped so recovery is prompt. */
const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 5000] as const;
const AUTH_FAILED = 4401;

export class StreamSocket<T> {
  readonly #name: string;
  readonly #options: StreamSocketOptions;
  readonly #listeners = new Set<() => void>();
  #snapshot: StreamSnapshot<T> = { phase: 'connecting', data: undefined, ts: undefined, previous: undefined, attempts: 0, retryAt: undefined };
  #ws: WebSocket | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #staleTimer: ReturnType<typeof setInterval> | undefined;
  #lastMessageAt = 0;
  #awaitingAuthOk = false;
  #stopped = true;

  constructor(name: string, options: StreamSocketOptions) {
    this.#name = name;
    this.#options = options;
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  readonly getSnapshot = (): StreamSnapshot<T> => this.#snapshot;

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#connect();
    this.#staleTimer = setInterval(() => this.#checkFreshness(), 500);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#staleTimer);
    const ws = this.#ws;
    this.#ws = undefined;
    ws?.close(1000, 'page closed');
  }

  #connect(): void {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/api/ws/${this.#name}`);
    this.#ws = ws;
    this.#lastMessageAt = Date.now();
    ws.onopen = () => {
      const token = this.#options.token();
      this.#awaitingAuthOk = token !== undefined;
      if (token !== undefined) ws.send(JSON.stringify({ type: 'auth', token }));
      this.#lastMessageAt = Date.now();
    };
    ws.onmessage = (event: MessageEvent) => {
      if (ws !== this.#ws) return;
      this.#lastMessageAt = Date.now();
      let message: { type?: unknown; data?: unknown; ts?: unknown };
      try {
        message = JSON.parse(String(event.data)) as typeof message;
      } catch {
        return;
      }
      if (message.type === 'auth_ok') {
        this.#awaitingAuthOk = false;
        return;
      }
      if (message.type !== this.#name || this.#awaitingAuthOk) return;
      const { data, ts } = this.#snapshot;
      const previous = data !== undefined && ts !== undefined ? { data, ts } : undefined;
      this.#set({ phase: 'live', data: message.data as T, ts: typeof message.ts === 'number' ? message.ts : Date.now(), previous, attempts: 0, retryAt: undefined });
    };
    ws.onclose = (event: CloseEvent) => {
      if (ws !== this.#ws || this.#stopped) return;
      this.#ws = undefined;
      if (event.code === AUTH_FAILED) void this.#options.renewToken().finally(() => this.#scheduleRetry());
      else this.#scheduleRetry();
    };
    // An error is always followed by close, which schedules the retry.
    ws.onerror = () => undefined;
  }

  #scheduleRetry(): void {
    if (this.#stopped) return;
    const attempts = this.#snapshot.attempts + 1;
    const delay = BACKOFF_MS[Math.min(attempts, BACKOFF_MS.length) - 1]!;
    this.#set({ ...this.#snapshot, phase: this.#snapshot.data === undefined && attempts === 1 ? 'connecting' : 'reconnecting', attempts, retryAt: Date.now() + delay });
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }

  #checkFreshness(): void {
    const ws = this.#ws;
    if (ws === undefined) return; // a retry is already scheduled
    const silentMs = Date.now() - this.#lastMessageAt;
    if (silentMs > this.#options.staleAfterMs * 2) {
      // A silent connection (a peer that vanished without closing) is replaced rather than waited on.
      this.#ws = undefined;
      ws.close(4000, 'no data');
      this.#scheduleRetry();
    } else if (silentMs > this.#options.staleAfterMs && this.#snapshot.phase === 'live') {
      this.#set({ ...this.#snapshot, phase: 'stale' });
    }
  }

  #set(snapshot: StreamSnapshot<T>): void {
    this.#snapshot = snapshot;
    for (const listener of this.#listeners) listener();
  }
}
