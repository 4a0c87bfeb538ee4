/**
 * Labelled worker counters (WORKER_COUNTERS): counted in each worker's RequestMetrics, reported,
 * and summed across workers by counter and label values.
 */
import t from 'tap';
import { WORKER_COUNTERS } from '../../../src/shared/metrics-report.js';
import { RequestMetrics } from '../../../src/workers/telemetry/request-metrics.js';
import { sumRequestMetrics } from '../../../src/primary/metrics/aggregate.js';

t.test('each counter keeps one series per label set, summed across workers', async (t) => {
  const one = new RequestMetrics();
  const two = new RequestMetrics();
  one.count('retries', 'web');
  one.count('retries', 'web');
  one.count('retries', 'api');
  two.count('retries', 'web');
  one.count('rateLimited', '*/', 'per-ip');
  two.count('rateLimited', '*/', 'per-ip');
  two.count('rateLimited', '*/', 'global');
  two.count('circuitRejections', 'web');

  t.same(
    one.report().counters.map((c) => [c.counter, c.labels, c.value]),
    [
      ['retries', ['web'], 2],
      ['retries', ['api'], 1],
      ['rateLimited', ['*/', 'per-ip'], 1],
    ],
    'one-label counters carry one label value, two-label ones two',
  );
  const sum = sumRequestMetrics([one.report(), two.report(), undefined]).counters;
  const value = (counter: string, ...labels: string[]) => sum.find((c) => c.counter === counter && c.labels.join() === labels.join())?.value;
  t.equal(value('retries', 'web'), 3);
  t.equal(value('retries', 'api'), 1);
  t.equal(value('rateLimited', '*/', 'per-ip'), 2);
  t.equal(value('rateLimited', '*/', 'global'), 1);
  t.equal(value('circuitRejections', 'web'), 1);
  t.equal(sum.length, 5);
});

t.test('every counter has a Prometheus counter name and as many label names as it is counted with', async (t) => {
  for (const [key, { name, labels }] of Object.entries(WORKER_COUNTERS)) {
    // Prometheus names may hold digits too ([a-zA-Z_:][a-zA-Z0-9_:]*): veloflux_http2_requests_total.
    t.match(name, /^veloflux_[a-z0-9_]+_total$/, key);
    t.ok(labels.length === 1 || labels.length === 2, `${key}: one or two labels`);
  }
});
