/**
 * Forecasts for GET /api/ai/predictions from the stored model of a series: Holt-Winters when it
 * beat seasonal naive on its holdout, seasonal naive otherwise, each point with a 95% interval.
 * Without enough history the answer says how much there is and how much is needed; it never
 * makes one up.
 */
import type { AiPrediction } from '../../shared/ai-api.js';
import { pointsNeeded } from './forecast-training.js';
import { forecastFromState, Z_95 } from './holt-winters.js';
import type { ModelStore } from './model-store.js';
import { MINUTE_MS } from './series-bucket.js';
import { contiguousTail } from './series-retention.js';
import type { SeriesStore } from './series-store.js';

/** An hourly season of minute buckets. */
export const MINUTE_PERIOD = 60;

export class Predictor {
  readonly #series: SeriesStore;
  readonly #models: ModelStore;

  constructor(series: SeriesStore, models: ModelStore) {
    this.#series = series;
    this.#models = models;
  }

  /** Minutes of gap-free history the series has, and how many a model needs. */
  async coverage(key: string): Promise<{ have: number; needed: number; from: number | null; to: number | null }> {
    const tail = contiguousTail((await this.#series.get(key))?.minutes ?? []);
    return { have: tail.length, needed: pointsNeeded(MINUTE_PERIOD), from: tail[0]?.t ?? null, to: tail.at(-1)?.t ?? null };
  }

  async predict(key: string, horizon: number): Promise<AiPrediction> {
    const { have, needed } = await this.coverage(key);
    if (have < needed) return { status: 'insufficient_data', key, have, needed };
    const model = await this.#models.get(key);
    const fitted = model?.record.fitted;
    if (model === undefined || fitted === undefined || model.record.serving === undefined) return { status: 'not_trained', key, have, needed };
    const { serving, lastT, trainedAt } = model.record;
    const forecast =
      serving === 'holt_winters'
        ? forecastFromState(fitted.state, horizon)
        : Array.from({ length: horizon }, (_, i) => {
            // Seasonal naive: the value one season before, its interval growing with the seasons ahead (FPP §5.5).
            const value = fitted.lastSeason[i % fitted.lastSeason.length]!;
            const half = Z_95 * fitted.naiveSigma * Math.sqrt(Math.floor(i / fitted.lastSeason.length) + 1);
            return { value, lower: value - half, upper: value + half };
          });
    return {
      status: 'ok',
      key,
      metric: 'requests_per_second',
      model: { version: model.version, trainedAt, serving, holdout: fitted.holdout },
      // A rate is never negative: the model's additive error may say so, the answer does not.
      points: forecast.map((p, i) => ({ t: lastT + (i + 1) * MINUTE_MS, value: round(Math.max(0, p.value)), lower: round(Math.max(0, p.lower)), upper: round(Math.max(0, p.upper)) })),
    };
  }
}

const round = (v: number): number => Math.round(v * 1000) / 1000;
