/**
 * Forecast errors on a holdout, and the baseline every model must beat: the seasonal-naive
 * forecast (each point repeats the value one season earlier; FPP §5.2), which costs nothing and
 * is hard to beat on strongly seasonal traffic.
 */

/** Mean absolute error. */
export function meanAbsoluteError(actual: readonly number[], predicted: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < actual.length; i++) sum += Math.abs(actual[i]! - predicted[i]!);
  return sum / actual.length;
}

/**
 * Mean absolute percentage error, in percent, over the points whose actual value is not zero
 * (a zero has no percentage); null when every actual value is zero.
 */
export function meanAbsolutePercentageError(actual: readonly number[], predicted: readonly number[]): number | null {
  let sum = 0;
  let counted = 0;
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] === 0) continue;
    sum += Math.abs((actual[i]! - predicted[i]!) / actual[i]!);
    counted++;
  }
  return counted === 0 ? null : (100 * sum) / counted;
}

/** `horizon` points after `history`, each the value one season (or k seasons) before it. */
export function seasonalNaiveForecast(history: readonly number[], period: number, horizon: number): number[] {
  if (history.length < period) throw new RangeError(`seasonal naive needs one season (${period} points), got ${history.length}`);
  const out: number[] = [];
  for (let h = 1; h <= horizon; h++) out.push(history[history.length - period + ((h - 1) % period)]!);
  return out;
}
