/**
 * The piscina task (runs in a worker thread of the primary, never on its event loop): trains one
 * forecast per series with forecast-training.ts (grid search, holdout against seasonal naive) and
 * answers plain data, since class instances do not cross threads. Compiled to
 * dist/src/primary/ai/training-task.js, which is what piscina loads (Node 20 cannot run .ts).
 */
import { pointsNeeded, trainForecast } from './forecast-training.js';
import type { HoltWintersState } from './holt-winters.js';

export interface TrainingInput {
  readonly period: number;
  readonly series: readonly { readonly key: string; readonly values: readonly number[]; readonly lastT: number }[];
}

export interface TrainedSeries {
  readonly key: string;
  readonly lastT: number;
  readonly have: number;
  readonly needed: number;
  readonly result?: {
    readonly state: HoltWintersState;
    readonly holdout: { points: number; model: { mae: number; mape: number | null }; seasonalNaive: { mae: number; mape: number | null } };
    readonly used: boolean;
    /** The last season, for the seasonal-naive forecast, and the σ of its one-season-ahead errors. */
    readonly lastSeason: number[];
    readonly naiveSigma: number;
  };
}

export default function train(input: TrainingInput): TrainedSeries[] {
  return input.series.map(({ key, values, lastT }) => {
    const trained = trainForecast(values, input.period);
    if (trained.status === 'insufficient_data') return { key, lastT, have: trained.have, needed: trained.needed };
    const { model } = trained;
    return {
      key,
      lastT,
      have: values.length,
      needed: pointsNeeded(input.period),
      result: {
        state: { period: model.period, parameters: model.parameters, level: model.level, trend: model.trend, seasonals: [...model.seasonals], sigma: model.sigma },
        holdout: trained.holdout,
        used: trained.used,
        lastSeason: values.slice(-input.period),
        naiveSigma: seasonalNaiveSigma(values, input.period),
      },
    };
  });
}

/** σ of y_t − y_{t−m}: the seasonal-naive forecast's one-season-ahead error (FPP §5.5). */
function seasonalNaiveSigma(values: readonly number[], period: number): number {
  let sum = 0;
  let n = 0;
  for (let i = period; i < values.length; i++) {
    sum += (values[i]! - values[i - period]!) ** 2;
    n++;
  }
  return n === 0 ? 0 : Math.sqrt(sum / n);
}
