/**
 * Training a traffic forecast: Holt-Winters with its smoothing parameters chosen by grid search,
 * judged on data the search never saw, next to the seasonal-naive baseline, and not used unless
 * it beats it.
 *
 * The series is split by time: [fit ... | validation season | test season]. Each grid point is
 * fitted on `fit` and scored (MAE) on `validation`; the winner is refitted on fit + validation
 * and its errors on `test` are the ones reported. Scoring the search on the season it is then
 * reported on would flatter it, since the best of 200 tries is partly the luckiest. The model
 * finally served is refitted on the whole series with the chosen parameters.
 */
import { meanAbsoluteError, meanAbsolutePercentageError, seasonalNaiveForecast } from './forecast-accuracy.js';
import { HoltWinters, type SmoothingParameters } from './holt-winters.js';

const ALPHAS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9];
const BETAS = [0, 0.01, 0.05, 0.1, 0.2];
const GAMMAS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7];

/** Two seasons to start the state, one to choose the parameters, one to test them. */
export function pointsNeeded(period: number): number {
  return 4 * period;
}

export interface HoldoutErrors {
  readonly mae: number;
  /** Percent; null when the test season is all zeros. */
  readonly mape: number | null;
}

export type ForecastTraining =
  | { readonly status: 'insufficient_data'; readonly have: number; readonly needed: number }
  | {
      readonly status: 'trained';
      readonly period: number;
      readonly parameters: SmoothingParameters;
      /** Errors on the test season, the model's and the seasonal-naive baseline's. */
      readonly holdout: { readonly points: number; readonly model: HoldoutErrors; readonly seasonalNaive: HoldoutErrors };
      /** Whether the model beat the baseline's MAE on the test season; if not, do not serve it. */
      readonly used: boolean;
      /** Fitted on the whole series, for forecasting. */
      readonly model: HoltWinters;
    };

export function trainForecast(series: readonly number[], period: number): ForecastTraining {
  const needed = pointsNeeded(period);
  if (series.length < needed) return { status: 'insufficient_data', have: series.length, needed };
  const testStart = series.length - period;
  const validationStart = testStart - period;
  const validation = series.slice(validationStart, testStart);
  const test = series.slice(testStart);

  const fit = series.slice(0, validationStart);
  let best: SmoothingParameters = { alpha: ALPHAS[0]!, beta: BETAS[0]!, gamma: GAMMAS[0]! };
  let bestMae = Number.POSITIVE_INFINITY;
  for (const alpha of ALPHAS) {
    for (const beta of BETAS) {
      for (const gamma of GAMMAS) {
        const parameters = { alpha, beta, gamma };
        const predicted = new HoltWinters(fit, period, parameters).forecast(period).map((p) => p.value);
        const mae = meanAbsoluteError(validation, predicted);
        if (mae < bestMae) {
          bestMae = mae;
          best = parameters;
        }
      }
    }
  }

  const seen = series.slice(0, testStart);
  const predicted = new HoltWinters(seen, period, best).forecast(period).map((p) => p.value);
  const naive = seasonalNaiveForecast(seen, period, period);
  const model = { mae: meanAbsoluteError(test, predicted), mape: meanAbsolutePercentageError(test, predicted) };
  const seasonalNaive = { mae: meanAbsoluteError(test, naive), mape: meanAbsolutePercentageError(test, naive) };
  return {
    status: 'trained',
    period,
    parameters: best,
    holdout: { points: period, model, seasonalNaive },
    used: model.mae < seasonalNaive.mae,
    model: new HoltWinters(series, period, best),
  };
}
