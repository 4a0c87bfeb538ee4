/**
 * What the `ai` stream shows, kept by the primary: anomaly events as they start and end (the
 * newest few), and per pool and route the last closed minute against its forecast. It builds the
 * `ai` part of the once-a-second API feed, with each backend's adaptive score from the feed's
 * backend counters.
 */
import type { AiAnomaly, AiFeed, AiForecastVsActual } from '../../shared/ai-api.js';
import type { ApiBackend } from '../../shared/api-feed.js';
import type { ClosedMinute } from './minute-bucketer.js';
import type { Predictor } from './predictor.js';
import { requestsPerSecond } from './series-bucket.js';
import { parseSeriesKey } from './traffic-counts.js';

const RECENT = 50;

export class AiMonitor {
  readonly #recent: AiAnomaly[] = [];
  readonly #forecasts = new Map<string, AiForecastVsActual>();
  readonly #predictor: Predictor;
  readonly #active: () => AiAnomaly[];

  constructor(predictor: Predictor, active: () => AiAnomaly[]) {
    this.#predictor = predictor;
    this.#active = active;
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
      const prediction = await this.#predictor.predict(key, 60).catch(() => undefined);
      if (prediction?.status !== 'ok') continue;
      const point = prediction.points.find((p) => p.t === bucket.t);
      if (point === undefined) continue;
      this.#forecasts.set(key, { key, [parsed.kind]: parsed.name, t: bucket.t, actual: requestsPerSecond(bucket), forecast: point.value, lower: point.lower, upper: point.upper });
    }
  }

  feed(backends: readonly ApiBackend[]): AiFeed {
    return {
      active: this.#active(),
      recent: [...this.#recent],
      backends: backends.map((b) => ({ id: b.id, pool: b.pool, ewmaLatencyMs: b.ewmaLatencyMs, inFlight: b.inFlight, score: Math.round(b.ewmaLatencyMs * (b.inFlight + 1) * 100) / 100 })),
      forecasts: [...this.#forecasts.values()],
    };
  }
}
