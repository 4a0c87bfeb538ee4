import t, { type Test } from 'tap';
import { PeakEwma } from '../../../src/workers/balancers/peak-ewma.js';

// Expected values worked out by hand (exp from a table / calculator), τ = 10 s throughout.
const TAU = 10_000;

function close(t: Test, actual: number, expected: number, what: string): void {
  t.ok(Math.abs(actual - expected) < 1e-6, `${what}: ${actual} ≈ ${expected}`);
}

t.test('a default cost decays toward zero as it is read', async (t) => {
  const cost = new PeakEwma();
  t.equal(cost.started, false);
  t.equal(cost.decayTo(0, TAU), 0, 'no cost before start');
  cost.start(30, 0);
  t.equal(cost.started, true);
  t.equal(cost.decayTo(0, TAU), 30);
  close(t, cost.decayTo(10_000, TAU), 11.036383235, '30·e^-1 after one τ');
  close(t, cost.decayTo(10_000, TAU), 11.036383235, 'reading twice at one time gives the same');
  close(t, cost.decayTo(20_000, TAU), 4.060058497, '30·e^-2 after two, however often read');
});

t.test('a fast answer after a long silence is compared with the faded cost', async (t) => {
  const cost = new PeakEwma();
  cost.start(100, 0);
  close(t, cost.decayTo(25_000, TAU), 8.208499862, '100·e^-2.5');
  cost.observe(9, 25_000, TAU);
  t.equal(cost.decayTo(25_000, TAU), 9, '9 > 8.21: a peak, not averaged with the old 100');
});

t.test('a sample above the cost replaces it at once (the peak)', async (t) => {
  const cost = new PeakEwma();
  cost.start(30, 0);
  cost.observe(50, 1000, TAU);
  t.equal(cost.decayTo(1000, TAU), 50);
});

t.test('a sample below the cost moves it by 1 - exp(-Δt/τ)', async (t) => {
  const cost = new PeakEwma();
  cost.start(30, 0);
  // w = e^-0.5 = 0.6065307; 30·w + 10·(1 - w) = 18.195919 + 3.934693
  cost.observe(10, 5000, TAU);
  close(t, cost.decayTo(5000, TAU), 22.130613194, 'after 5 s');
  cost.observe(100, 6000, TAU); // peak
  t.equal(cost.decayTo(6000, TAU), 100);
  // w = e^-1 = 0.3678794; 100·w + 20·(1 - w) = 36.787944 + 12.642411
  cost.observe(20, 16_000, TAU);
  close(t, cost.decayTo(16_000, TAU), 49.430355294, 'one τ later');
});

t.test('samples close together barely move the cost: the average is over time, not over samples', async (t) => {
  const cost = new PeakEwma();
  cost.start(100, 0);
  for (let ms = 1; ms <= 100; ms++) cost.observe(1, ms, TAU);
  // 100 samples over 100 ms weigh as one sample 100 ms old: 100·e^-0.01 + 1·(1 - e^-0.01)
  close(t, cost.decayTo(100, TAU), 99.014933, '100 ms of fast answers');
});

t.test('a clock that steps back counts as no time passed', async (t) => {
  const cost = new PeakEwma();
  cost.start(30, 1000);
  cost.observe(5, 500, TAU);
  t.equal(cost.decayTo(500, TAU), 30, 'w = 1: the sample has no weight');
  t.equal(cost.decayTo(0, TAU), 30, 'and reading before the stamp does not change it');
});

t.test('the first sample of a never-started cost is taken as is', async (t) => {
  const cost = new PeakEwma();
  cost.observe(7, 100, TAU);
  t.equal(cost.started, true);
  t.equal(cost.decayTo(100, TAU), 7);
});
