/**
 * Robust z-scores for anomaly detection: the modified z-score of Iglewicz and Hoaglin ("How to
 * Detect and Handle Outliers", 1993), 0.6745 · (x − median) / MAD. The median and the median
 * absolute deviation are not dragged by the outliers they are meant to find, as a mean and a
 * standard deviation are (one huge latency inflates the standard deviation enough to hide
 * itself). 0.6745 makes the MAD estimate σ for normal data, so scores read like z-scores; the
 * authors suggest |score| > 3.5 as an outlier.
 */

/** Iglewicz and Hoaglin's cut-off. */
export const OUTLIER_SCORE = 3.5;

/** 0.6745: the normal 75th percentile, MAD / σ for normal data. */
const MAD_TO_SIGMA = 0.6745;
/** √(2/π): mean absolute deviation / σ for normal data, for when the MAD is 0. */
const MEAN_AD_TO_SIGMA = 0.7978845608;

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Median absolute deviation from the median (unscaled). */
export function medianAbsoluteDeviation(values: readonly number[]): number {
  const center = median(values);
  return median(values.map((v) => Math.abs(v - center)));
}

/** Where a reference is centred and how widely it spreads, estimated robustly. */
export interface RobustScale {
  readonly median: number;
  /** σ as estimated from the MAD (or the mean absolute deviation); 0 for a constant reference. */
  readonly sigma: number;
}

/**
 * When more than half the reference is one value the MAD is 0; the mean absolute deviation
 * stands in (scaled to σ), as IBM's description of the modified z-score does.
 */
export function robustScale(reference: readonly number[]): RobustScale {
  const center = median(reference);
  const mad = medianAbsoluteDeviation(reference);
  if (mad > 0) return { median: center, sigma: mad / MAD_TO_SIGMA };
  let meanAd = 0;
  for (const v of reference) meanAd += Math.abs(v - center);
  meanAd /= reference.length;
  return { median: center, sigma: meanAd / MEAN_AD_TO_SIGMA };
}

/**
 * The robust z-score of `x` on `scale` (e.g. a backend's latency against its recent history).
 * On a constant reference a value equal to it scores 0 and any other ±Infinity.
 */
export function robustZ(x: number, scale: RobustScale): number {
  if (scale.sigma > 0) return (x - scale.median) / scale.sigma;
  return x === scale.median ? 0 : (x - scale.median) * Number.POSITIVE_INFINITY;
}

/** Every value scored against the whole series. */
export function robustZScores(values: readonly number[]): number[] {
  const scale = robustScale(values);
  return values.map((v) => robustZ(v, scale));
}

/** Indexes of the values whose |robust z| exceeds `threshold`. */
export function outlierIndexes(values: readonly number[], threshold = OUTLIER_SCORE): number[] {
  const out: number[] = [];
  robustZScores(values).forEach((score, i) => {
    if (Math.abs(score) > threshold) out.push(i);
  });
  return out;
}
