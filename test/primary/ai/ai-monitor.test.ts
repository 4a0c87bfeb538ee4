/**
 * Forecast vs actual: each closed minute of a pool is set against what its stored model forecast
 * for that minute; a minute far outside the forecast (more than 3.5 forecast σ) starts a
 * traffic_vs_forecast anomaly, which ends at the first minute back inside. The model is trained
 * here in-process by the same task piscina runs (training-task.ts), on a day of minutes.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedStateStore } from '../../../src/shared/state/embedded-store.js';
import { AiMonitor } from '../../../src/primary/ai/ai-monitor.js';
import { ModelStore, recordOf } from '../../../src/primary/ai/model-store.js';
import { Predictor } from '../../../src/primary/ai/predictor.js';
import { MINUTE_MS, requestsPerSecond, type SeriesBucket } from '../../../src/primary/ai/series-bucket.js';
import { SeriesStore } from '../../../src/primary/ai/series-store.js';
import train from '../../../src/primary/ai/training-task.js';
import type { AiAnomaly } from '../../../src/shared/ai-api.js';

const wave = (t: number) => 50 + 20 * Math.sin((2 * Math.PI * (t / MINUTE_MS)) / 60);
const minute = (t: number, rps: number): SeriesBucket => ({ t, seconds: 60, requests: Math.round(rps * 60), errors: 0, durations: [] });

t.test('a minute far off its forecast is an anomaly; back inside, it ends', async (t) => {
  const store = await EmbeddedStateStore.open(mkdtempSync(join(tmpdir(), 'veloflux-monitor-')), 'n');
  const end = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
  let s = 7;
  const noise = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 6;
  const minutes = Array.from({ length: 1440 }, (_, i) => minute(end - (1440 - i) * MINUTE_MS, wave(end - (1440 - i) * MINUTE_MS) + noise()));
  const series = new SeriesStore(store);
  await series.put('pool:web', { minutes, hours: [] });
  const [trained] = train({ period: 60, series: [{ key: 'pool:web', values: minutes.map(requestsPerSecond), lastT: minutes.at(-1)!.t }] });
  const models = new ModelStore(store);
  await models.put(recordOf(trained!, 60, 'job-1', new Date().toISOString()));

  const events: AiAnomaly[] = [];
  const monitor = new AiMonitor({ predictor: new Predictor(series, models), backendAnomalies: () => [], poolOf: (key) => (key === 'pool:web' ? 'web' : undefined), onEvent: (e) => events.push(e) });
  const feed = () => monitor.feed([]);

  await monitor.compare([{ key: 'pool:web', bucket: minute(end, wave(end)) }]);
  t.same(events, [], 'on forecast: nothing');
  const [f] = feed().forecasts;
  t.match(f, { key: 'pool:web', pool: 'web', t: end });
  t.ok(f!.lower <= f!.actual && f!.actual <= f!.upper, `actual ${f!.actual} within ${f!.lower}..${f!.upper}`);

  await monitor.compare([{ key: 'pool:web', bucket: minute(end + MINUTE_MS, 5 * wave(end + MINUTE_MS)) }]);
  t.equal(events.length, 1, 'five times the forecast traffic');
  t.match(events[0], { kind: 'traffic_vs_forecast', pool: 'web', unit: 'requests_per_second', since: new Date(end + MINUTE_MS).toISOString() });
  t.ok(events[0]!.score > 3.5, `score ${events[0]!.score}`);
  t.same(feed().active.map((a) => a.id), [events[0]!.id], 'on the feed as going on');

  await monitor.compare([{ key: 'pool:web', bucket: minute(end + 2 * MINUTE_MS, wave(end + 2 * MINUTE_MS)) }]);
  t.equal(events.length, 2);
  t.match(events[1], { id: events[0]!.id, endedAt: String });
  t.same(feed().active, []);
  t.same(feed().recent, [], 'recent holds what record() was given (main.ts records every event)');
});
