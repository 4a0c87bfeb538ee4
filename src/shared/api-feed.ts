import type { AiFeed } from './ai-api.js';
import type { StoredAlert } from './rpc.js';

/**
 * What the primary tells every worker once a second for the main API (:9090): metrics, the last
 * minute of traffic, backend state, cluster status and instance health, all of which only the
 * primary knows (it aggregates the workers' reports, runs health checks and outlier detection,
 * and lists the cluster's nodes). Plain JSON; the IPC protocol version covers its shape. It goes
 * to every worker every second, so it stays small: maps keyed by name rather than arrays of
 * labelled objects, and the realtime series as columns.
 */

/** Traffic through one route, pool or backend, or through all of them (cumulative). */
export interface TrafficSummary {
  requests: number;
  /** Answers with a 5xx status (VeloFlux's own 502/503/504 included). */
  errors5xx: number;
  /** Answers with a 4xx status (429 from rate limits and 499 for requests the client abandoned included). */
  errors4xx: number;
  /** Response body bytes relayed to clients. */
  bytesOut: number;
  /**
   * Request duration percentiles in ms, estimated from the cumulative histogram as Prometheus'
   * histogram_quantile does (linear inside a bucket); null without requests.
   */
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export interface ApiMetrics {
  /** Every request, including the ones VeloFlux answered itself before routing (404 no route, 400). */
  totals: TrafficSummary & {
    websockets: {
      active: number;
      /** Tunnels opened since start (the backend answered a valid 101). */
      opened: number;
      /** Messages client to backend. */
      messagesReceived: number;
      /** Messages backend to client. */
      messagesSent: number;
    };
  };
  /** By route label (`host` + `path` as configured, e.g. `*` + `/api/`). */
  routes: Record<string, TrafficSummary>;
  /** By pool name. */
  pools: Record<string, TrafficSummary>;
  /** By backend id. */
  backends: Record<string, TrafficSummary>;
}

/** One second of cluster traffic: rates over that second, gauges at its end. */
export interface RealtimePoint {
  /** End of the second, ms since epoch. */
  ts: number;
  /** Per second. */
  requests: number;
  errors5xx: number;
  errors4xx: number;
  /** Duration percentiles of the requests answered in that second; null when there were none. */
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** Response bytes per second. */
  bytes: number;
  activeConnections: number;
  activeWebSockets: number;
}

/** The last (up to) 60 RealtimePoints, oldest first, one array per field. Expand with realtimePoints(). */
export type ApiRealtime = { intervalMs: number } & { [K in keyof RealtimePoint]: RealtimePoint[K][] };

export interface ApiBackend {
  id: string;
  pool: string;
  url: string;
  weight: number;
  drain: boolean;
  /** Active health check result; null when the pool has no health check. */
  healthy: boolean | null;
  /** Out for now by passive outlier detection. */
  ejected: boolean;
  /** Takes new requests: healthy (or unchecked), not ejected, not drained, weight above 0. */
  available: boolean;
  /** Requests in flight to it now, all workers. */
  inFlight: number;
  /** Workers' moving averages of its response time, weighted by the requests each sent it. */
  ewmaLatencyMs: number;
  /** Requests answered by it since start (the same counter as metrics.backends[id].requests). */
  requests: number;
  /** The last active health check (null before the first, or without a health check). */
  lastCheck: { at: string; ok: boolean; status?: number; error?: string; durationMs: number } | null;
  /** Times passive outlier detection ejected it since this instance started. */
  ejections: number;
}

export interface ApiNode {
  id: string;
  address: string;
  version: string;
  started: string;
  lastSeen: string;
  /** This instance. */
  self: boolean;
}

export interface ApiPoolStatus {
  name: string;
  algorithm: string;
  backends: number;
  /** Backends that pass their health check (or have none) and are not ejected. */
  healthy: number;
}

export interface ApiStatus {
  /** Of this instance (the primary). */
  uptimeSeconds: number;
  /** VeloFlux version. */
  version: string;
  configVersion: number;
  /** null while the instance is starting (before it joined the cluster). */
  nodeId: string | null;
  /** The instances sharing this one's state as last listed (refreshed every few seconds); embedded: this one. */
  nodes: ApiNode[];
  /** Node id of the leader (it runs the cluster-wide jobs) as last read; null while unknown. */
  leader: string | null;
  pools: ApiPoolStatus[];
}

export type InstanceHealthStatus = 'up' | 'degraded' | 'down';

/** What GET /admin/health answers: up while a worker serves, degraded while the state store is away. */
export interface ApiHealth {
  status: InstanceHealthStatus;
  workers: { ready: number; alive: number; expected: number };
  state: { backend: 'embedded' | 'redis'; available: boolean; since: string };
  configVersion: number;
}

export interface ApiFeed {
  /** When the primary built it, ms since epoch. */
  ts: number;
  configVersion: number;
  metrics: ApiMetrics;
  realtime: ApiRealtime;
  backends: ApiBackend[];
  status: ApiStatus;
  health: ApiHealth;
  /** The newest alerts from Alertmanager's webhook, newest last (at most FEED_ALERTS). */
  alerts: StoredAlert[];
  /** Anomalies, adaptive scores and forecast-vs-actual for the `ai` stream (absent before the AI parts start). */
  ai?: AiFeed;
}

/** How many of the newest alerts ride on the feed (GET /api/alerts has more). */
export const FEED_ALERTS = 20;

/** The realtime columns as one object per second, oldest first. */
export function realtimePoints(realtime: ApiRealtime): RealtimePoint[] {
  return realtime.ts.map((ts, i) => ({
    ts,
    requests: realtime.requests[i]!,
    errors5xx: realtime.errors5xx[i]!,
    errors4xx: realtime.errors4xx[i]!,
    p50Ms: realtime.p50Ms[i] ?? null,
    p95Ms: realtime.p95Ms[i] ?? null,
    p99Ms: realtime.p99Ms[i] ?? null,
    bytes: realtime.bytes[i]!,
    activeConnections: realtime.activeConnections[i]!,
    activeWebSockets: realtime.activeWebSockets[i]!,
  }));
}

/**
 * The main API's streams (`/api/ws/<name>`), in one list: adding a stream is one entry here, and
 * a misspelt name in a publish is a compile error. The feed streams carry parts of the ApiFeed
 * above and are public unless `server.api.publicStreams` is false: without a token they carry
 * aggregates only, and an `auth` message scopes them to the user's tenant (workers/api/feed-views.ts).
 * `private` ones always need the `auth` handshake and are tenant-scoped (`ai` carries the feed's
 * `ai` part; security and billing are filled by later features).
 */
export const API_STREAMS = [
  { name: 'backends', private: false },
  { name: 'metrics', private: false },
  { name: 'status', private: false },
  { name: 'health', private: false },
  { name: 'ai', private: true },
  { name: 'security', private: true },
  { name: 'billing', private: true },
] as const;
export type StreamName = (typeof API_STREAMS)[number]['name'];
