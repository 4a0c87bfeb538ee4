/**
 * What the main API's AI endpoints and the `ai` stream carry (issue 18), shared by the primary,
 * which trains and detects, and the workers, which serve and scope it per tenant. Series keys
 * name what a series measures: `pool:<name>`, `route:<host><path>` (the route's metrics label) or
 * `backend:<id>`.
 */

/** One bucket of a traffic series as the API shows it. */
export interface AiSeriesPoint {
  /** Start of the minute or hour, ms since epoch. */
  t: number;
  /** Seconds of it VeloFlux counted (under 60 for the minute it started in). */
  seconds: number;
  requests: number;
  /** 5xx answers. */
  errors: number;
  requestsPerSecond: number;
  /** 5xx answers / requests; null without requests. */
  errorRate: number | null;
  p99Ms: number | null;
}

export interface AiHoldoutErrors {
  mae: number;
  /** Percent; null when the holdout is all zeros. */
  mape: number | null;
}

/** A trained forecast model as the API lists it (no fitted state). */
export interface AiModelSummary {
  key: string;
  /** The state store record's version: +1 per training of this key. */
  version: number;
  trainedAt: string;
  metric: 'requests_per_second';
  resolution: 'minute';
  /** Season length in buckets (60: an hourly season of minutes). */
  period: number;
  status: 'trained' | 'insufficient_data';
  /** Points of the series it saw, and how many a model needs. */
  have: number;
  needed: number;
  parameters?: { alpha: number; beta: number; gamma: number };
  /** Errors on the last season, which the parameter search never saw, next to the seasonal-naive baseline's. */
  holdout?: { points: number; model: AiHoldoutErrors; seasonalNaive: AiHoldoutErrors };
  /** Which forecast predictions serve: Holt-Winters only when it beat seasonal naive on the holdout. */
  serving?: 'holt_winters' | 'seasonal_naive';
  /** The job that trained it. */
  job: string;
}

export type AiPrediction =
  | { status: 'insufficient_data'; key: string; have: number; needed: number }
  | { status: 'not_trained'; key: string; have: number; needed: number }
  | {
      status: 'ok';
      key: string;
      metric: 'requests_per_second';
      model: { version: number; trainedAt: string; serving: 'holt_winters' | 'seasonal_naive'; holdout: NonNullable<AiModelSummary['holdout']> };
      /** One point per minute after the last minute the model saw, with a 95% interval. */
      points: { t: number; value: number; lower: number; upper: number }[];
    };

/** Something measured far outside its own recent history (robust z-score, median/MAD). */
export interface AiAnomaly {
  id: string;
  kind: 'backend_latency' | 'backend_error_rate' | 'traffic_vs_forecast';
  pool: string;
  backend?: string;
  route?: string;
  observed: number;
  expected: number;
  score: number;
  unit: 'ms' | 'ratio' | 'requests_per_second';
  /** ISO time it began; `endedAt` once it is over. */
  since: string;
  endedAt?: string;
}

export interface AiTrainingJob {
  id: string;
  state: 'running' | 'done' | 'failed';
  startedAt: string;
  finishedAt?: string;
  by: string;
  /** Series keys trained, with the outcome of each. */
  trained?: { key: string; status: 'trained' | 'insufficient_data'; serving?: 'holt_winters' | 'seasonal_naive' }[];
  error?: string;
  /** The primary's event-loop delay while the job ran (perf_hooks monitorEventLoopDelay), ms. */
  eventLoopDelay?: { p50Ms: number; p99Ms: number; maxMs: number };
  /** The same over the second before the job's work began: what the host does to the loop anyway. */
  eventLoopDelayBefore?: { p50Ms: number; p99Ms: number; maxMs: number };
  durationMs?: number;
}

/** Per backend, the adaptive balancer's view: Peak-EWMA latency and the load it implies. */
export interface AiBackendScore {
  id: string;
  pool: string;
  ewmaLatencyMs: number;
  inFlight: number;
  /** ewmaLatencyMs × (inFlight + 1): what `adaptive` compares between two candidates. */
  score: number;
}

export interface AiForecastVsActual {
  key: string;
  pool?: string;
  route?: string;
  /** The last closed minute. */
  t: number;
  actual: number;
  forecast: number;
  lower: number;
  upper: number;
}

/** The `ai` part of the primary's once-a-second feed, for /api/ws/ai. */
export interface AiFeed {
  /** Anomalies going on now. */
  active: AiAnomaly[];
  /** The newest anomaly events (started or ended), newest last. */
  recent: AiAnomaly[];
  backends: AiBackendScore[];
  forecasts: AiForecastVsActual[];
}

/** Forecast horizons the API accepts, in minutes (one hourly season at most). */
export const AI_MAX_HORIZON = 60;
