/**
 * Typed IPC between the primary and its workers. Config flows down (snapshot, shutdown);
 * observations flow up on their own messages and never mutate config. Every message carries the
 * protocol version so a worker from an older build fails loudly instead of misreading a message.
 */
import type { VelofluxConfig } from './config/schema.js';
import type { RequestMetricsReport } from './metrics-report.js';
import type { StateChange, StateRecord, StateStatus } from './state/store.js';
import type { RpcMethod } from './rpc.js';
import type { WireError } from './errors.js';
import type { ApiFeed } from './api-feed.js';
import type { BillingFeed } from './billing/billing-feed.js';
import type { RateShares, RateUsage } from './rate-limit-report.js';
import type { SecurityCount, SecurityEvent } from './security-events.js';

export const IPC_PROTOCOL_VERSION = 1;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A validated, frozen config with the version the primary assigned to it. */
export interface ConfigSnapshot {
  readonly version: number;
  readonly config: Readonly<VelofluxConfig>;
  /** Key for sticky-session cookies (HMAC), the same in every worker and across restarts. */
  readonly stickySecret: string;
  readonly apiSecrets: ApiSecrets;
  /**
   * This instance's pseudonym in `Via` (RFC 9110 §7.6.3), random per start: a request that comes
   * back carrying it is a forwarding loop (508).
   */
  readonly instanceId: string;
}

/** The main API's secrets (resolved in the primary from env or files, never from the repo). */
export interface ApiSecrets {
  /** Signs and verifies access tokens (HS256), at least 32 bytes. */
  readonly jwtSecret: string;
  /** What Alertmanager presents to POST /api/alerts/webhook; absent: the webhook is off. */
  readonly alertWebhookToken?: string;
}

export type PrimaryMessage =
  /** Build and serve this config now: a starting worker's first one, or a catch-up. */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'snapshot'; snapshot: ConfigSnapshot }
  /**
   * Two-phase change: build a runtime for this snapshot and hold it (answer `prepared` or
   * `snapshot-failed`); swap it in only on `commit`, drop it on `abort`. So a change one worker
   * cannot apply is never served by the others, not even briefly.
   */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'prepare'; snapshot: ConfigSnapshot }
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'commit'; configVersion: number }
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'abort'; configVersion: number }
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'shutdown'; deadlineMs: number }
  /** Application log level, changed through the admin API. */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'log-level'; level: LogLevel }
  /**
   * Backend availability by id: active health check results combined with outlier ejections
   * (every checked or ejected backend, not only changes; absent ones count as the config says).
   */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'health'; healthy: Record<string, boolean> }
  /**
   * This worker's shares of each rate limit, every RATE_LIMIT_TICK_MS while keys are active:
   * keys listed get `shares`, every other key `defaultShare` (1 / workers x live instances).
   */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'rate-shares'; defaultShare: number; policies: RateShares[] }
  /** The replicated namespaces whole (state-replica.ts): sent once per worker start, before any state-change. */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'state-sync'; namespaces: Record<string, [string, StateRecord][]>; status: StateStatus }
  /** A record of a replicated namespace changed (here or, with Redis, on another instance). */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'state-change'; change: StateChange }
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'state-status'; status: StateStatus }
  /** Once a second: what the main API serves and streams (metrics, backends, status, health), built once for all workers. */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'api-feed'; feed: ApiFeed }
  /** Every few seconds and at each billing event: tenants' usage and the events, for the billing stream (billing-feed.ts). */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'billing-feed'; feed: BillingFeed }
  /** The answer to a worker's rpc-request, by its id; a failure keeps its code and problems (errors.ts WireError). */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'rpc-reply'; requestId: number; result?: unknown; error?: WireError }
  /** The answer to a worker's state-request, by its id. */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'state-reply'; requestId: number; result?: unknown; error?: { code: string; message: string } };

export type WorkerMessage =
  /**
   * The worker's message listener is installed. ESM loading is asynchronous, so anything the
   * primary sent before this would be dropped; the primary sends the snapshot in reply.
   */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'hello' }
  /** The worker built its first runtime and is accepting connections. */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'ready'; configVersion: number; httpPort: number; apiPort: number; httpsPort?: number }
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'prepared'; configVersion: number }
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'snapshot-applied'; configVersion: number }
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'snapshot-failed'; configVersion: number; reason: string }
  /** A backend failed `consecutiveFailures` times in a row here; the primary decides on ejection. */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'outlier'; backendId: string; consecutiveFailures: number }
  /** Sent every second: what GET /admin/metrics (and later Prometheus) reports. */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'stats'; stats: WorkerStats }
  /** Rate-limit demand per key since the last report (only sent when there was some). */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'rate-usage'; usage: RateUsage[] }
  /**
   * The worker's log lines (info and above, JSON, as written to stdout) since its last batch, for
   * the primary's recent-log ring; `dropped`: lines left out since then to stay under the rate cap.
   */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'log-lines'; lines: string[]; dropped: number }
  /**
   * The security filter's events since the last batch (about once a second, only when there were
   * some), at most SECURITY_BATCH_EVENTS; `dropped`: events left out since the last batch (the
   * worker's ring overflowed or the batch was full); `counts`: every event, dropped ones included.
   */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'security-events'; events: SecurityEvent[]; dropped: number; counts: SecurityCount[] }
  /** A call for the primary (shared/rpc.ts): config changes, recent logs, alerts. */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'rpc-request'; requestId: number; method: RpcMethod; params: unknown }
  /** A state store operation for the primary to run (workers never talk to the store directly). */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'state-request'; requestId: number; request: StateRequest }
  /** The worker could not start (for instance, the port is taken); the primary must not respawn it in a loop. */
  | { v: typeof IPC_PROTOCOL_VERSION; type: 'fatal'; code: string; message: string };

/** The StateStore calls a worker can ask for (reads of replicated namespaces are answered locally). */
export type StateRequest =
  | { op: 'get' | 'list' | 'counter' | 'delete'; namespace: string; id?: string; expectedVersion?: number }
  | { op: 'put'; namespace: string; id: string; value: unknown; expectedVersion?: number }
  | { op: 'increment'; namespace: string; id: string; by: number }
  | { op: 'count-in-window'; namespace: string; id: string; windowMs: number };

type Distribute<T> = T extends unknown ? Omit<T, 'v'> : never;

export function primaryMessage(body: Distribute<PrimaryMessage>): PrimaryMessage {
  return { v: IPC_PROTOCOL_VERSION, ...body } as PrimaryMessage;
}

export function workerMessage(body: Distribute<WorkerMessage>): WorkerMessage {
  return { v: IPC_PROTOCOL_VERSION, ...body } as WorkerMessage;
}

/** Narrows an incoming IPC value; anything else (other versions, foreign messages) is ignored by callers. */
export function isVelofluxMessage(value: unknown): value is { v: number; type: string } {
  return typeof value === 'object' && value !== null && (value as { v?: unknown }).v === IPC_PROTOCOL_VERSION && typeof (value as { type?: unknown }).type === 'string';
}

export interface BackendStatsReport {
  id: string;
  pool: string;
  inFlight: number;
  requests: number;
  ewmaLatencyMs: number;
  consecutiveFailures: number;
}

export interface WorkerStats {
  configVersion: number;
  /** Requests received since the worker started. */
  requests: number;
  activeConnections: number;
  rssBytes: number;
  heapUsedBytes: number;
  eventLoopLagMs: { mean: number; p99: number; max: number };
  backends: BackendStatsReport[];
  /** WebSocket tunnels since the worker started ("received": client to backend, "sent": backend to client). */
  websockets: WebSocketStatsReport;
  /** Cumulative request counters and histograms for /metrics. */
  http: RequestMetricsReport;
}

export interface WebSocketStatsReport {
  /** Tunnels opened: the backend answered a valid 101. */
  opened: number;
  active: number;
  closed: number;
  /** Lifetimes of the closed tunnels; `buckets` are cumulative (Prometheus `le`), `count` is +Inf. */
  durationSeconds: { sum: number; count: number; buckets: { le: number; count: number }[] };
  /** Messages (fragmented ones once, control frames not) and wire bytes after the handshake. */
  received: { messages: number; bytes: number };
  sent: { messages: number; bytes: number };
}
