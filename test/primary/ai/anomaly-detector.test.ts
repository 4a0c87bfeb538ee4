/**
 * Per-backend anomalies from cumulative counters fed once a second: a backend whose latency
 * jumps far above its own recent seconds (robust z-score, and a rise that matters in ms) starts
 * an anomaly with observed, expected and score; it ends a few quiet seconds after latency is back;
 * small jitter and a lone slow request do not count; errors likewise.
 */
import t from 'tap';
import { AnomalyDetector } from '../../../src/primary/ai/anomaly-detector.js';
import type { TrafficCounts } from '../../../src/primary/ai/traffic-counts.js';
import type { AiAnomaly } from '../../../src/shared/ai-api.js';

/** Feeds `perSecond` requests a second to backend a with the given latency (ms) and errors each second. */
class Feeder {
  readonly events: AiAnomaly[] = [];
  readonly detector = new AnomalyDetector({ poolOf: (id) => (id === 'a' ? 'web' : undefined), onEvent: (e) => this.events.push(e) });
  readonly #c: TrafficCounts = { requests: 0, errors: 0, durations: [], durationSum: 0, durationCount: 0 };
  now = Date.UTC(2026, 11, 2, 10, 0, 0);

  second(latenciesMs: readonly number[], errors = 0): void {
    this.#c.requests += latenciesMs.length;
    this.#c.errors += errors;
    this.#c.durationCount += latenciesMs.length;
    for (const l of latenciesMs) this.#c.durationSum += l / 1000;
    this.now += 1000;
    this.detector.observe(this.now, new Map([['backend:a', { ...this.#c, durations: [] }]]));
  }
}

/** 20 requests a second with latencies spread around `ms` (±10%, deterministic). */
const around = (ms: number) => Array.from({ length: 20 }, (_, i) => ms * (0.9 + (0.2 * i) / 19));

t.test('a backend turning slow starts one anomaly, with what was seen and expected; it ends once fast again', async (t) => {
  const f = new Feeder();
  for (let i = 0; i < 30; i++) f.second(around(5 + (i % 3)));
  t.same(f.events, [], 'steady: nothing');
  f.second(around(150));
  f.second(around(150));
  t.equal(f.events.length, 1, 'an anomaly within two seconds of the slow-down');
  const e = f.events[0]!;
  t.match(e, { kind: 'backend_latency', pool: 'web', backend: 'a', unit: 'ms', since: String });
  t.ok(e.observed > 50 && e.observed <= 150, `observed ${e.observed} ms`);
  t.ok(e.expected >= 5 && e.expected <= 7, `expected ${e.expected} ms: the median of the reference seconds`);
  t.ok(e.score > 3.5, `score ${e.score}`);
  for (let i = 0; i < 60; i++) f.second(around(150));
  t.equal(f.events.length, 1, 'still one event a minute later: the slow seconds do not become the reference');
  t.equal(f.detector.active().length, 1);
  for (let i = 0; i < 10; i++) f.second(around(6));
  t.equal(f.events.length, 2, 'ended');
  t.match(f.events[1], { id: e.id, endedAt: String });
  t.same(f.detector.active(), []);
});

t.test('jitter, a lone slow request and a small absolute rise are not anomalies', async (t) => {
  const f = new Feeder();
  for (let i = 0; i < 30; i++) f.second(around(2 + (i % 5)));
  f.second([...around(3).slice(1), 400]);
  t.same(f.events, [], 'one slow request among 60 in the window');
  for (let i = 0; i < 5; i++) f.second(around(15));
  t.same(f.events, [], '2-6 ms to 15 ms: a high score but under the 25 ms floor');
});

t.test('nothing is judged before there is a reference', async (t) => {
  const f = new Feeder();
  for (let i = 0; i < 5; i++) f.second(around(5));
  for (let i = 0; i < 5; i++) f.second(around(500));
  t.same(f.events, []);
});

t.test('errors: a 5xx burst on a backend that had none is an error-rate anomaly', async (t) => {
  const f = new Feeder();
  for (let i = 0; i < 30; i++) f.second(around(5));
  f.second(around(5), 2);
  t.same(f.events, [], 'two errors: under the minimum');
  f.second(around(5), 10);
  t.equal(f.events.length, 1);
  t.match(f.events[0], { kind: 'backend_error_rate', backend: 'a', unit: 'ratio', expected: 0 });
  t.ok(f.events[0]!.observed >= 0.05, `rate ${f.events[0]!.observed}`);
});
