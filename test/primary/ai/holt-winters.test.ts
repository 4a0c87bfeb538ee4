import t from 'tap';
import { meanAbsoluteError, meanAbsolutePercentageError, seasonalNaiveForecast } from '../../../src/primary/ai/forecast-accuracy.js';
import { trainForecast, pointsNeeded } from '../../../src/primary/ai/forecast-training.js';
import { HoltWinters } from '../../../src/primary/ai/holt-winters.js';

const PERIOD = 12;
/** A seasonal pattern that sums to 0, so the level is the series' deseasonalised mean. */
const SEASON = [-6, -4, -1, 2, 5, 7, 6, 3, 0, -3, -5, -4];
const LEVEL = 50;
const TREND = 0.5;

/** mulberry32: a seeded generator, so the test's noise is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

/** LEVEL + TREND·t + SEASON + normal noise of standard deviation `noise` (Box-Muller). */
function series(length: number, noise: number, seed = 1): number[] {
  const random = seeded(seed);
  return Array.from({ length }, (_, t) => {
    const gaussian = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    return LEVEL + TREND * t + SEASON[t % PERIOD]! + noise * gaussian;
  });
}

t.test('recovers the level, trend and season of a known series', async (t) => {
  const data = series(20 * PERIOD, 0.5);
  const trained = trainForecast(data, PERIOD);
  if (trained.status !== 'trained') throw new Error('not trained');
  const { model } = trained;
  const n = data.length;
  // The split between level and season is only defined up to a constant: compare them re-centred.
  const offset = model.seasonals.reduce((a, b) => a + b) / PERIOD;
  t.ok(Math.abs(model.trend - TREND) < 0.05, `trend ${model.trend.toFixed(3)} ≈ ${TREND}`);
  t.ok(Math.abs(model.level + offset - (LEVEL + TREND * (n - 1))) < 1, `level ${(model.level + offset).toFixed(2)} ≈ ${LEVEL + TREND * (n - 1)}`);
  // seasonals[i] belongs to observation n - PERIOD + i
  model.seasonals.forEach((s, i) => {
    const expected = SEASON[(n - PERIOD + i) % PERIOD]!;
    t.ok(Math.abs(s - offset - expected) < 1, `season ${i}: ${(s - offset).toFixed(2)} ≈ ${expected}`);
  });
  t.ok(model.sigma > 0.3 && model.sigma < 1, `one-step σ ${model.sigma.toFixed(3)} near the noise's 0.5`);
});

t.test('beats seasonal naive on the test season by at least 20% and is used', async (t) => {
  const trained = trainForecast(series(12 * PERIOD, 1, 7), PERIOD);
  if (trained.status !== 'trained') throw new Error('not trained');
  const { model, seasonalNaive } = trained.holdout;
  t.comment(`holdout MAE ${model.mae.toFixed(3)} (MAPE ${model.mape!.toFixed(2)}%) vs seasonal naive ${seasonalNaive.mae.toFixed(3)} (${seasonalNaive.mape!.toFixed(2)}%)`);
  t.equal(trained.holdout.points, PERIOD);
  t.ok(model.mae <= 0.8 * seasonalNaive.mae, 'MAE at most 80% of the baseline');
  t.equal(trained.used, true);
});

t.test('forecasts continue the trend and season, with intervals that widen', async (t) => {
  const hw = new HoltWinters(series(10 * PERIOD, 0), PERIOD, { alpha: 0.3, beta: 0.1, gamma: 0.3 });
  const n = 10 * PERIOD;
  const points = hw.forecast(2 * PERIOD);
  points.forEach((p, h) => {
    const truth = LEVEL + TREND * (n + h) + SEASON[(n + h) % PERIOD]!;
    t.ok(Math.abs(p.value - truth) < 0.5, `h=${h + 1}: ${p.value.toFixed(2)} ≈ ${truth}`);
    t.ok(p.lower <= p.value && p.value <= p.upper);
  });
  const noisy = new HoltWinters(series(10 * PERIOD, 1), PERIOD, { alpha: 0.3, beta: 0.1, gamma: 0.3 }).forecast(PERIOD + 1);
  const width = (i: number) => noisy[i]!.upper - noisy[i]!.lower;
  // h = 1: ±1.96σ; the c_j terms add for every further step, γ once a season has passed.
  t.ok(width(1) > width(0) && width(PERIOD) > width(PERIOD - 1), 'wider further out');
});

t.test('a model that does not beat seasonal naive is not used', async (t) => {
  // Exactly periodic, no trend, no noise: seasonal naive is exact (MAE 0), nothing can beat it.
  const periodic = Array.from({ length: 6 * PERIOD }, (_, i) => 100 + SEASON[i % PERIOD]!);
  const trained = trainForecast(periodic, PERIOD);
  if (trained.status !== 'trained') throw new Error('not trained');
  t.equal(trained.holdout.seasonalNaive.mae, 0);
  t.equal(trained.used, false);
});

t.test('too little history is reported as such, with how much is needed', async (t) => {
  t.equal(pointsNeeded(PERIOD), 4 * PERIOD);
  t.same(trainForecast(series(4 * PERIOD - 1, 0), PERIOD), { status: 'insufficient_data', have: 4 * PERIOD - 1, needed: 4 * PERIOD });
  t.throws(() => new HoltWinters([1, 2, 3], 2, { alpha: 0.5, beta: 0.1, gamma: 0.1 }), RangeError);
});

t.test('error measures against hand-computed values', async (t) => {
  t.equal(meanAbsoluteError([10, 20, 30], [12, 18, 30]), 4 / 3);
  // |2/10| and |-2/20|; the zero actual is left out: (20% + 10%) / 2
  t.ok(Math.abs(meanAbsolutePercentageError([10, 20, 0], [12, 18, 5])! - 15) < 1e-9);
  t.equal(meanAbsolutePercentageError([0, 0], [1, 2]), null);
  t.same(seasonalNaiveForecast([1, 2, 3, 4, 5, 6], 3, 4), [4, 5, 6, 4]);
});
