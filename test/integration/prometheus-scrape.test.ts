/**
 * A real Prometheus (the binary from Debian's `prometheus` package, on a free port with its own
 * data dir) scrapes a VeloFlux with two workers: after a known number of requests, Prometheus's
 * HTTP API returns exactly that count for http_requests_total summed over workers, and the
 * histogram's count and +Inf bucket agree.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { startUpstream, closedPort } from '../helpers/upstream.js';
import { startVeloflux } from '../helpers/veloflux.js';

const PROMETHEUS = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).stdout.trim();

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('Prometheus scrapes exact request counts and agreeing histograms', async (t) => {
  if (PROMETHEUS === '') {
    t.fail('the prometheus binary is missing: install Debian package "prometheus" (.ci/run does)');
    return;
  }
  const upstream = await startUpstream();
  const vf = await startVeloflux({ pools: [{ name: 'web', backends: [{ id: 'u1', url: upstream.url }] }], routes: [{ path: '/', pool: 'web' }] }, { workers: 2 });
  const metricsPort = (vf.logs().find((l) => l.msg === 'veloflux ready')!.metrics as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), 'veloflux-prometheus-'));
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global: { scrape_interval: 1s, evaluation_interval: 1s }\nscrape_configs:\n  - job_name: veloflux\n    static_configs: [{ targets: ["127.0.0.1:${metricsPort}"] }]\n`,
  );
  const promPort = await closedPort();
  const prometheus = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
  t.teardown(async () => {
    prometheus.kill('SIGTERM');
    await vf.stop();
    await upstream.close();
  });

  const SENT = 50;
  const statuses = new Set<number>();
  for (let i = 0; i < SENT; i++) statuses.add(await get(vf.port, `/item/${i}`));
  t.same([...statuses], [200], `${SENT} requests answered 200`);

  const query = async (expr: string): Promise<number | undefined> => {
    try {
      const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
      const value = body.data?.result?.[0]?.value[1];
      return value === undefined ? undefined : Number(value);
    } catch {
      return undefined; // Prometheus still starting
    }
  };
  let total: number | undefined;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    total = await query('sum(http_requests_total)');
    if (total === SENT) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  t.equal(total, SENT, 'sum(http_requests_total) as Prometheus stored it');
  t.equal(await query('sum(http_request_duration_seconds_count)'), SENT, 'histogram count agrees');
  t.equal(await query('sum(http_request_duration_seconds_bucket{le="+Inf"})'), SENT, '+Inf bucket agrees');
  t.equal(await query('count(count by (instance) (veloflux_workers))'), 1, 'one target');
  t.equal(await query('sum(veloflux_workers)'), 2, 'reporting two workers');
});
