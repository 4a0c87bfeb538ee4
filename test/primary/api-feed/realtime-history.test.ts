/**
 * The last minute at one-second resolution, from synthetic cumulative cluster totals: rates are
 * differences divided by the time between samples, percentiles come from the histogram delta of
 * that second, counters that go back never produce negative rates, and only 60 points are kept.
 */
import t from 'tap';
import { RealtimeHistory, type CumulativeSample } from '../../../src/primary/api-feed/realtime-history.js';
import { realtimePoints } from '../../../src/shared/api-feed.js';
import { DURATION_BUCKETS } from '../../../src/shared/metrics-report.js';

const T0 = Date.parse('2025-01-01T00:00:00Z');
const histogram = (byIndex: Record<number, number>) => Array.from({ length: DURATION_BUCKETS.length + 1 }, (_, i) => byIndex[i] ?? 0);

function sample(at: number, fields: Partial<CumulativeSample> = {}): CumulativeSample {
  return { at, requests: 0, errors5xx: 0, errors4xx: 0, bytes: 0, duration: histogram({}), activeConnections: 0, activeWebSockets: 0, ...fields };
}

t.test('the first sample is only a baseline: totals since start are not one second of traffic', async (t) => {
  const history = new RealtimeHistory();
  t.equal(history.record(sample(T0, { requests: 5000, duration: histogram({ 2: 5000 }) })), undefined);
  t.same(history.points(), []);
  t.same(history.columns().ts, []);
});

t.test('a point is the difference over the second: rates, percentiles of that second only, gauges as they are', async (t) => {
  const history = new RealtimeHistory();
  // Before: 1000 slow requests (all in (250 ms, 500 ms]); they must not weigh on the next second.
  history.record(sample(T0, { requests: 1000, errors5xx: 10, errors4xx: 3, bytes: 50_000, duration: histogram({ 6: 1000 }), activeConnections: 4 }));
  const point = history.record(
    sample(T0 + 1000, {
      requests: 1100,
      errors5xx: 15,
      errors4xx: 3,
      bytes: 70_000,
      // +100 in this second: 50 in (5, 10 ms], 50 in (10, 25 ms].
      duration: histogram({ 1: 50, 2: 50, 6: 1000 }),
      activeConnections: 7,
      activeWebSockets: 2,
    }),
  );
  // p50: rank 50 of the delta is the top of (5, 10]: 10 ms. p95: rank 95 in (10, 25] with 50 below: 10 + 15 x 45/50 = 23.5 ms.
  // p99: rank 99 in (10, 25]: 10 + 15 x 49/50 = 24.7 ms.
  t.same(point, { ts: T0 + 1000, requests: 100, errors5xx: 5, errors4xx: 0, p50Ms: 10, p95Ms: 23.5, p99Ms: 24.7, bytes: 20_000, activeConnections: 7, activeWebSockets: 2 });
  t.same(history.points(), [point]);
});

t.test('rates divide by the time that actually passed; a second without requests has null percentiles', async (t) => {
  const history = new RealtimeHistory();
  history.record(sample(T0, { requests: 10, duration: histogram({ 0: 10 }) }));
  const late = history.record(sample(T0 + 2000, { requests: 13, bytes: 999, duration: histogram({ 0: 13 }) }));
  t.match(late, { requests: 1.5, bytes: 499.5, p50Ms: 2.5 });
  const idle = history.record(sample(T0 + 3000, { requests: 13, bytes: 999, duration: histogram({ 0: 13 }) }));
  t.match(idle, { requests: 0, bytes: 0, p50Ms: null, p95Ms: null, p99Ms: null });
  t.equal(history.record(sample(T0 + 3000, { requests: 20 })), undefined, 'no time passed: no point (and no division by zero)');
});

t.test('a counter that goes back (a worker replaced before its last report arrived) reads as 0, never negative', async (t) => {
  const history = new RealtimeHistory();
  history.record(sample(T0, { requests: 500, errors5xx: 20, errors4xx: 9, bytes: 10_000, duration: histogram({ 3: 500 }) }));
  const reset = history.record(sample(T0 + 1000, { requests: 120, errors5xx: 2, errors4xx: 1, bytes: 4_000, duration: histogram({ 3: 100, 4: 20 }), activeConnections: 1 }));
  t.same(reset, { ts: T0 + 1000, requests: 0, errors5xx: 0, errors4xx: 0, p50Ms: 75, p95Ms: 97.5, p99Ms: 99.5, bytes: 0, activeConnections: 1, activeWebSockets: 0 },
    'buckets clamp one by one: only the 20 new ones in (50, 100 ms] are seen');
  const after = history.record(sample(T0 + 2000, { requests: 150, errors5xx: 2, errors4xx: 1, bytes: 5_000, duration: histogram({ 3: 130, 4: 20 }) }));
  t.match(after, { requests: 30, bytes: 1000 }, 'counting resumes from the lower value');
});

t.test('keeps the newest 60 points, oldest first, as columns the workers can expand', async (t) => {
  const history = new RealtimeHistory();
  for (let i = 0; i <= 70; i++) history.record(sample(T0 + i * 1000, { requests: i * i, activeConnections: i }));
  const points = history.points();
  t.equal(points.length, 60);
  t.equal(points[0]!.ts, T0 + 11_000, 'seconds 1..10 fell out');
  t.equal(points.at(-1)!.ts, T0 + 70_000);
  t.equal(points.at(-1)!.requests, 70 * 70 - 69 * 69);
  const columns = history.columns();
  t.equal(columns.intervalMs, 1000);
  t.equal(columns.ts.length, 60);
  t.same(columns.activeConnections, points.map((p) => p.activeConnections));
  t.same(realtimePoints(columns), points, 'realtimePoints() turns the columns back into the points');

  const small = new RealtimeHistory(3);
  for (let i = 0; i < 5; i++) small.record(sample(T0 + i * 1000, { requests: i }));
  t.same(small.points().map((p) => p.ts), [T0 + 2000, T0 + 3000, T0 + 4000], 'the ring wraps around');
});
