import t from 'tap';
import { median, medianAbsoluteDeviation, outlierIndexes, robustScale, robustZ, robustZScores } from '../../../src/primary/ai/robust-z.js';

// Expected values worked out by hand.
const near = (a: number, b: number) => Math.abs(a - b) < 1e-9;

t.test('median and MAD, odd and even counts', async (t) => {
  t.equal(median([3, 1, 100, 2, 4]), 3);
  t.equal(median([8, 2, 6, 4]), 5);
  t.ok(Number.isNaN(median([])));
  // |x - 3| = 2, 1, 0, 1, 97 -> sorted 0, 1, 1, 2, 97 -> 1
  t.equal(medianAbsoluteDeviation([1, 2, 3, 4, 100]), 1);
  // |x - 5| = 3, 1, 1, 3 -> (1 + 3) / 2
  t.equal(medianAbsoluteDeviation([2, 4, 6, 8]), 2);
});

t.test('scores are 0.6745 (x - median) / MAD', async (t) => {
  const scores = robustZScores([1, 2, 3, 4, 100]);
  t.ok(near(scores[4]!, 65.4265), `100: 0.6745 · 97 / 1 = ${scores[4]}`);
  t.ok(near(scores[0]!, -1.349), `1: 0.6745 · -2 = ${scores[0]}`);
  t.equal(scores[2], 0, 'the median scores 0');
  t.ok(near(robustZ(8, robustScale([2, 4, 6, 8])), 1.01175), '0.6745 · 3 / 2');
  t.same(outlierIndexes([1, 2, 3, 4, 100]), [4], 'only 100 is past 3.5');
});

t.test('the outlier does not hide itself, as it would behind a standard deviation', async (t) => {
  const values = [10, 11, 9, 10, 12, 10, 11, 9, 10, 40];
  const mean = values.reduce((a, b) => a + b) / values.length;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  t.ok((40 - mean) / sd < 3.5, `classic z of 40 is only ${((40 - mean) / sd).toFixed(2)}`);
  t.same(outlierIndexes(values), [9], 'the robust score flags it');
});

t.test('a MAD of 0 falls back to the mean absolute deviation', async (t) => {
  // median 5; MAD 0; mean |x - 5| = 4 / 5 = 0.8; score = √(2/π) · 4 / 0.8 = 0.7978845608 · 5
  const scale = robustScale([5, 5, 5, 5, 9]);
  t.equal(scale.median, 5);
  t.ok(near(robustZ(9, scale), 3.989422804), `${robustZ(9, scale)}`);
  t.same(outlierIndexes([5, 5, 5, 5, 9]), [4]);
});

t.test('a constant reference: equal scores 0, anything else is infinitely far', async (t) => {
  const scale = robustScale([7, 7, 7]);
  t.equal(robustZ(7, scale), 0);
  t.equal(robustZ(8, scale), Number.POSITIVE_INFINITY);
  t.equal(robustZ(6, scale), Number.NEGATIVE_INFINITY);
});
