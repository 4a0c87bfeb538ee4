/**
 * What the `ai` stream shows, kept by the primary: anomaly events as they start and end (the
 * newest few), and per pool and route the last closed minute against its forecast. A minute whose
 * traffic is more than OUTLIER_SCORE forecast standard deviations from the forecast (σ read back
 * from the 95% interval) is a `traffic_vs_forecast` anomaly, over at the first minute back inside.
 * It builds the `ai` part of the once-a-second API feed, with each backend's adaptive score from
 * the feed's backend counters.
 */
import { randomUUID } from 'node:crypto';
import type { AiAnomaly, AiFeed, AiForecastVsActual } from '../../shared/ai-api.js';
import { Z_95 } from './holt-winters.js';
import { OUTLIER_SCORE } from './robust-z.js';
import type { ApiBackend } from '../../shared/api-feed.js';
import type { ClosedMinute } from './minute-bucketer.js';
import type { Predictor } from './predictor.js';
import { requestsPerSecond } from './series-bucket.js';
import { parseSeriesKey } from './traffic-counts.js';

const RECENT = 50;

export interface AiMonitorOptions {
  readonly predictor: Predictor;
  /** The backend anomalies going on now (anomaly-detector.ts). */
  readonly backendAnomalies: () => AiAnomaly[];
  /** The pool a pool or route series belongs to in the config in force. */
  readonly poolOf: (key: string) => string | undefined;
  /** A forecast anomaly started or ended. */
  readonly onEvent: (anomaly: AiAnomaly) => void;
}

export class AiMonitor {
  readonly #recent: AiAnomaly[] = [];
  readonly #forecasts = new Map<string, AiForecastVsActual>();
  readonly #offForecast = new Map<string, AiAnomaly>();
  readonly #options: AiMonitorOptions;

  constructor(options: AiMonitorOptions) {
    this.#options = options;
  }

  /** Every anomaly going on now: backends' and forecasts'. */
  active(): AiAnomaly[] {
    return [...this.#options.backendAnomalies(), ...[...this.#offForecast.values()].map((a) => ({ ...a }))];
  }

  /** An anomaly started or ended. */
  record(anomaly: AiAnomaly): void {
    this.#recent.push(anomaly);
    if (this.#recent.length > RECENT) this.#recent.splice(0, this.#recent.length - RECENT);
  }

  /** Compares each closed pool and route minute with what its model forecast for it (if one serves). */
  async compare(closed: readonly ClosedMinute[]): Promise<void> {
    for (const { key, bucket } of closed) {
      const parsed = parseSeriesKey(key);
      if (parsed === undefined || parsed.kind === 'backend') continue;
      const prediction = await this.#options.predictor.predict(key, 60).catch(() => undefined);
      if (prediction?.status !== 'ok') continue;
      const point = prediction.points.find((p) => p.t === bucket.t);
      if (point === undefined) continue;
      const actual = requestsPerSecond(bucket);
      this.#forecasts.set(key, { key, [parsed.kind]: parsed.name, t: bucket.t, actual, forecast: point.value, lower: point.lower, upper: point.upper });
      this.#judge(key, { kind: parsed.kind, name: parsed.name }, bucket.t, actual, point.value, (point.upper - point.value) / Z_95);
    }
  }

  #judge(key: string, parsed: { kind: 'pool' | 'route'; name: string }, t: number, actual: number, forecast: number, sigma: number): void {
    const score = sigma > 0 ? (actual - forecast) / sigma : 0;
    const active = this.#offForecast.get(key);
    const pool = this.#options.poolOf(key);
    if (Math.abs(score) > OUTLIER_SCORE && pool !== undefined) {
      const measured = { observed: actual, expected: forecast, score: Math.round(score * 1000) / 1000 };
      if (active !== undefined) return void Object.assign(active, measured);
      const anomaly: AiAnomaly = { id: randomUUID(), kind: 'traffic_vs_forecast', pool, ...(parsed.kind === 'route' ? { route: parsed.name } : {}), unit: 'requests_per_second', since: new Date(t).toISOString(), ...measured };
      this.#offForecast.set(key, anomaly);
      this.#options.onEvent({ ...anomaly });
    } else if (active !== undefined) {
      this.#offForecast.delete(key);
      this.#options.onEvent({ ...active, endedAt: new Date().toISOString() });
    }
  }

  feed(backends: readonly ApiBackend[]): AiFeed {
    return {
      active: this.active(),
      recent: [...this.#recent],
      backends: backends.map((b) => ({ id: b.id, pool: b.pool, ewmaLatencyMs: b.ewmaLatencyMs, inFlight: b.inFlight, score: Math.round(b.ewmaLatencyMs * (b.inFlight + 1) * 100) / 100 })),
      forecasts: [...this.#forecasts.values()],
    };
  }
}
