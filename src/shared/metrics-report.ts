/**
 * The request metrics a worker reports to the primary (cumulative since the worker started),
 * and the histogram bucket bounds both sides use.
 */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
export const SIZE_BUCKETS = [100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000] as const;

export interface HistogramReport {
  /** Per bucket (not cumulative), the last one is +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

export interface RequestSeries {
  route: string;
  pool: string;
  backend: string;
  method: string;
  code: number;
  value: number;
}

export interface LatencySeries {
  route: string;
  pool: string;
  backend: string;
  duration: HistogramReport;
  size: HistogramReport;
}

/**
 * The labelled counters workers keep besides requests and latency, each with its Prometheus
 * name, help and label names. Adding one is an entry here and a `count()` where it happens: the
 * report, the cluster sum and /metrics follow from this table.
 */
export const WORKER_COUNTERS = {
  retries: { name: 'veloflux_retries_total', help: 'Requests sent again to another backend.', labels: ['pool'] },
  circuitRejections: { name: 'veloflux_circuit_breaker_rejections_total', help: 'Requests answered 503 because a backend had too many pending.', labels: ['pool'] },
  rateLimited: {
    name: 'veloflux_rate_limited_requests_total',
    help: 'Requests answered 429 because a rate limit policy was exceeded, by route and policy.',
    labels: ['route', 'policy'],
  },
  // Per route, for usage metering (src/primary/billing/) as much as for dashboards. WebSocket
  // figures are counted when the session ends.
  requestBytes: { name: 'veloflux_request_body_bytes_total', help: 'Request body bytes received from clients and sent upstream, by route.', labels: ['route'] },
  websocketBytes: { name: 'veloflux_route_websocket_bytes_total', help: 'WebSocket bytes after the handshake, by route and direction (in: from clients), counted when the session ends.', labels: ['route', 'direction'] },
  websocketMessages: { name: 'veloflux_route_websocket_messages_total', help: 'WebSocket messages, by route and direction (in: from clients), counted when the session ends.', labels: ['route', 'direction'] },
  websocketSeconds: { name: 'veloflux_route_websocket_seconds_total', help: 'Time WebSocket sessions were open, by route, counted when the session ends.', labels: ['route'] },
  securityInspected: {
    name: 'veloflux_security_inspected_requests_total',
    help: 'Requests the security filter inspected, by route and mode (detect or block).',
    labels: ['route', 'mode'],
  },
  securityEvents: {
    name: 'veloflux_security_events_total',
    help: 'Requests the security filter found an attack in (once per category matched) or refused by address, by category and action (blocked or detected).',
    labels: ['category', 'action'],
  },
  securityFilterErrors: {
    name: 'veloflux_security_filter_errors_total',
    help: 'Security filter failures, by route and outcome: fail_closed (refused, block mode) or fail_open (forwarded, detect mode).',
    labels: ['route', 'outcome'],
  },
  securityUninspectedBodies: {
    name: 'veloflux_security_uninspected_bodies_total',
    help: 'Request bodies longer than inspectBodyBytes, by route and action (forwarded with the rest uninspected, or rejected with 413).',
    labels: ['route', 'action'],
  },
  http2Requests: {
    name: 'veloflux_http2_requests_total',
    help: 'Requests that arrived over HTTP/2 (counted in veloflux_http_requests_total as well), by route and pool.',
    labels: ['route', 'pool'],
  },
  http2ConnectionsClosed: {
    name: 'veloflux_http2_connections_closed_total',
    help: 'HTTP/2 client connections closed by VeloFlux for misbehaviour, by reason (rapid_reset, settings_timeout, protocol).',
    labels: ['reason'],
  },
} as const satisfies Record<string, { name: string; help: string; labels: readonly [string] | readonly [string, string] }>;

export type WorkerCounter = keyof typeof WORKER_COUNTERS;

/** One series of a WORKER_COUNTERS counter: label values in the order of its `labels`. */
export interface CounterSeries {
  counter: WorkerCounter;
  labels: string[];
  value: number;
}

export interface RequestMetricsReport {
  requests: RequestSeries[];
  latency: LatencySeries[];
  counters: CounterSeries[];
}

