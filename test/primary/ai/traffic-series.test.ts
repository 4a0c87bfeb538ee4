import t from 'tap';
import { MinuteBucketer } from '../../../src/primary/ai/minute-bucketer.js';
import { HOUR_MS, MINUTE_MS, mergeBuckets, pointOf, type SeriesBucket } from '../../../src/primary/ai/series-bucket.js';
import { appendMinute, contiguousTail, emptySeries, hourly, HOUR_RETENTION_MS, MINUTE_RETENTION_MS } from '../../../src/primary/ai/series-retention.js';
import { trafficCounts, type TrafficCounts } from '../../../src/primary/ai/traffic-counts.js';
import { decodeSeries, encodeSeries } from '../../../src/primary/ai/series-codec.js';

const counts = (requests: number, errors: number, durations: number[]): Map<string, TrafficCounts> =>
  new Map([['pool:web', { requests, errors, durations, durationSum: 0, durationCount: 0 }]]);

const T0 = Date.UTC(2026, 11, 2, 10, 0, 0);

t.test('the bucketer answers nothing inside a minute and each minute\'s differences when it ends', async (t) => {
  const b = new MinuteBucketer();
  t.same(b.observe(T0 + 20_000, counts(100, 1, [90, 10])), [], 'the first reading is the baseline');
  t.same(b.observe(T0 + 50_000, counts(150, 2, [130, 20])), [], 'same minute: nothing closed');
  const first = b.observe(T0 + MINUTE_MS + 300, counts(160, 4, [135, 25]));
  t.same(first, [{ key: 'pool:web', bucket: { t: T0, seconds: 40, requests: 60, errors: 3, durations: [45, 15] } }], 'the first minute covers only the 40 s counted');
  const second = b.observe(T0 + 2 * MINUTE_MS + 200, counts(280, 4, [250, 30]));
  t.same(second, [{ key: 'pool:web', bucket: { t: T0 + MINUTE_MS, seconds: 60, requests: 120, errors: 0, durations: [115, 5] } }]);
  t.equal(pointOf(second[0]!.bucket).requestsPerSecond, 2, '120 requests in 60 s');
  t.equal(pointOf(second[0]!.bucket).errorRate, 0);
  t.equal(pointOf(first[0]!.bucket).errorRate, 3 / 60);
});

t.test('counters that went back (a worker replaced without its last report) never give negative buckets', async (t) => {
  const b = new MinuteBucketer();
  b.observe(T0 + 1000, counts(100, 5, [100]));
  const [closed] = b.observe(T0 + MINUTE_MS + 1000, counts(40, 1, [40]));
  t.same(closed!.bucket, { t: T0, seconds: 60, requests: 0, errors: 0, durations: [0] });
});

t.test('trafficCounts sums by pool, route and backend, 5xx as errors, and skips empty labels', async (t) => {
  const c = trafficCounts({
    requests: [
      { route: '*/', pool: 'web', backend: 'a', method: 'GET', code: 200, value: 7 },
      { route: '*/', pool: 'web', backend: 'b', method: 'GET', code: 502, value: 2 },
      { route: '', pool: '', backend: '', method: 'GET', code: 404, value: 5 },
    ],
    latency: [{ route: '*/', pool: 'web', backend: 'a', duration: { counts: [3, 4], sum: 0.5, count: 7 }, size: { counts: [], sum: 0, count: 0 } }],
    counters: [],
  });
  t.same([...c.keys()].sort(), ['backend:a', 'backend:b', 'pool:web', 'route:*/']);
  t.match(c.get('pool:web'), { requests: 9, errors: 2, durations: [3, 4], durationSum: 0.5, durationCount: 7 });
  t.match(c.get('backend:b'), { requests: 2, errors: 2, durations: [] });
});

const minute = (t: number, requests = 60): SeriesBucket => ({ t, seconds: 60, requests, errors: 1, durations: [requests - 1, 1] });

t.test('merging adds counts and histograms, so an hour\'s p99 comes from its minutes\' histograms', async (t) => {
  const m = mergeBuckets(T0, [minute(T0, 100), minute(T0 + MINUTE_MS, 50)]);
  t.same(m, { t: T0, seconds: 120, requests: 150, errors: 2, durations: [148, 2] });
});

t.test('minutes older than a day fold into hours; hours older than 14 days go; the series stays bounded', async (t) => {
  let series = emptySeries();
  // 26 hours of minutes, appended as they close.
  const start = T0;
  const total = 26 * 60;
  for (let i = 0; i < total; i++) series = appendMinute(series, minute(start + i * MINUTE_MS, i), start + (i + 1) * MINUTE_MS);
  const now = start + total * MINUTE_MS;
  t.ok(series.minutes.length <= MINUTE_RETENTION_MS / MINUTE_MS + 1, `minutes kept: ${series.minutes.length}`);
  t.ok(series.minutes[0]!.t >= now - MINUTE_RETENTION_MS, 'no minute older than the retention');
  t.equal(series.hours.length, 2, 'the two oldest hours were folded');
  t.same(series.hours.map((h) => h.t), [start, start + HOUR_MS]);
  let expected = 0;
  for (let i = 0; i < 60; i++) expected += i;
  t.equal(series.hours[0]!.requests, expected, 'the first hour holds its 60 minutes\' requests');
  t.equal(series.hours[0]!.seconds, 3600);
  // Everything still adds up: hourly() over folded hours and kept minutes loses no request.
  const all = hourly(series).reduce((n, h) => n + h.requests, 0);
  t.equal(all, (total * (total - 1)) / 2, 'no request lost by downsampling');
  t.equal(hourly(series).length, 26);

  // 15 days later the old hours are gone.
  const later = appendMinute(series, minute(now + HOUR_RETENTION_MS), now + HOUR_RETENTION_MS + MINUTE_MS);
  t.ok(later.hours.every((h) => h.t >= now + MINUTE_MS - HOUR_RETENTION_MS), 'hours past 14 days dropped');
  t.ok(later.hours.length <= 14 * 24 + 1);
});

t.test('a minute closed twice replaces itself; the input series is not changed', async (t) => {
  const one = appendMinute(emptySeries(), minute(T0, 10), T0 + MINUTE_MS);
  const two = appendMinute(one, minute(T0, 20), T0 + MINUTE_MS);
  t.equal(one.minutes[0]!.requests, 10);
  t.same(two.minutes.map((m) => m.requests), [20]);
});

t.test('contiguousTail keeps the newest run without gaps (a gap is unknown, never zero)', async (t) => {
  const ms = [0, 1, 2, 5, 6, 7, 8].map((i) => minute(T0 + i * MINUTE_MS));
  t.same(contiguousTail(ms).map((m) => (m.t - T0) / MINUTE_MS), [5, 6, 7, 8]);
  t.same(contiguousTail([]), []);
});

t.test('the stored encoding gives back every bucket exactly, and refuses a format it does not know', async (t) => {
  const series = { minutes: [minute(T0, 10), { t: T0 + MINUTE_MS, seconds: 12, requests: 0, errors: 0, durations: [] }], hours: [mergeBuckets(T0 - HOUR_MS, [minute(T0 - HOUR_MS, 7)])] };
  const encoded = encodeSeries(series);
  t.type(encoded.minutes, 'string');
  t.same(decodeSeries(JSON.parse(JSON.stringify(encoded))), series);
  t.same(decodeSeries(encodeSeries(emptySeries())), emptySeries());
  t.equal(decodeSeries({ minutes: [], hours: [] } as never), undefined, 'an unknown shape is not misread');
});
