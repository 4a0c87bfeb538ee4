// The load generator, run as its own process so it can be pinned away from the proxy under test:
// `node dist/bench/loadgen-worker.js --url U --connections N --duration S --warmup S [--rate R]`;
// --rate paces all connections together to R requests per second (equal-load latency).
// Prints JSON lines: {"event":"warmup"}, {"event":"measuring"}, then {"event":"result", ...}.
import { parseArgs } from 'node:util';
import autocannon, { type Result } from 'autocannon';
import { LatencyHistogram } from './latency-histogram.js';
import type { LoadResult } from './loadgen.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    connections: { type: 'string', default: '50' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '0' },
    rate: { type: 'string' },
  },
});
if (values.url === undefined) throw new Error('loadgen-worker: --url is required');
const url = values.url;
const connections = Number(values.connections);
const overallRate = values.rate === undefined ? undefined : Number(values.rate);

function emit(msg: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

function run(duration: number, histogram?: LatencyHistogram): Promise<Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon({ url, connections, duration, ...(overallRate === undefined ? {} : { overallRate }) }, (err, result) => (err ? reject(err) : resolve(result)));
    if (histogram !== undefined) {
      // Same rule as autocannon's own latency stats: only 2xx answers count.
      instance.on('response', (_client: unknown, statusCode: number, _bytes: number, ms: number) => {
        if (statusCode >= 200 && statusCode < 300) histogram.record(ms);
      });
    }
  });
}

const warmup = Number(values.warmup);
if (warmup > 0) {
  emit({ event: 'warmup' });
  await run(warmup);
}
emit({ event: 'measuring' });
const histogram = new LatencyHistogram();
const result = await run(Number(values.duration), histogram);
const load: LoadResult = {
  rps: result.requests.average,
  requests: result.requests.total,
  bytesPerSecond: result.throughput.average,
  p50Ms: histogram.percentile(50),
  p99Ms: histogram.percentile(99),
  errors: result.errors,
  timeouts: result.timeouts,
  non2xx: result.non2xx,
};
emit({ event: 'result', result: load });
