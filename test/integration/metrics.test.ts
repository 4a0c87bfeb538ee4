/**
 * GET /metrics on the metrics listener, aggregated over two workers: after a known number of
 * requests the counters say exactly that, histogram counts agree with them, VeloFlux's own
 * answers are counted with empty route labels, and the families operators need are present.
 */
import t from 'tap';
import { request } from 'node:http';
import { startUpstream } from '../helpers/upstream.js';
import { METRIC_SPECS } from '../docker/docker-config.test.js';
import { startVeloflux } from '../helpers/veloflux.js';
import { metricsPort, samples } from '../helpers/metrics.js';

function get(port: number, path: string, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}


t.test('counters and histograms match the traffic sent, summed over workers', async (t) => {
  const upstream = await startUpstream((req, res) => {
    req.resume();
    req.on('end', () => {
      res.statusCode = req.url === '/missing' ? 404 : 200;
      res.end('x'.repeat(req.url === '/big' ? 5000 : 10));
    });
  });
  const vf = await startVeloflux({ pools: [{ name: 'web', backends: [{ id: 'u1', url: upstream.url }] }], routes: [{ host: '*', path: '/', pool: 'web' }, { host: 'api.test', path: '/v1/', pool: 'web' }] }, { workers: 2 });
  t.teardown(async () => {
    await vf.stop();
    await upstream.close();
  });
  const port = metricsPort(vf);
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  for (let i = 0; i < 30; i++) await get(vf.port, '/a');
  for (let i = 0; i < 7; i++) await get(vf.port, '/missing');
  for (let i = 0; i < 5; i++) await get(vf.port, '/big', 'POST');
  let values = new Map<string, number>();
  const expectedTotal = 42;
  for (let tries = 0; tries < 40; tries++) {
    values = samples(await scrape());
    const total = [...values].filter(([k]) => k.startsWith('http_requests_total{')).reduce((n, [, v]) => n + v, 0);
    if (total >= expectedTotal) break;
    await new Promise((r) => setTimeout(r, 150));
  }
  const series = (labels: string) => values.get(`http_requests_total{route="*/",pool="web",backend="u1",${labels}}`);
  t.equal(series('method="GET",code="200"'), 30);
  t.equal(series('method="GET",code="404"'), 7, "the upstream's 404s");
  t.equal(series('method="POST",code="200"'), 5);
  t.equal(values.get('http_request_duration_seconds_count{route="*/",pool="web",backend="u1"}'), 42, 'one duration per request');
  t.equal(values.get('http_request_duration_seconds_bucket{route="*/",pool="web",backend="u1",le="+Inf"}'), 42);
  t.equal(values.get('http_response_size_bytes_sum{route="*/",pool="web",backend="u1"}'), 30 * 10 + 7 * 10 + 5 * 5000, 'bytes relayed');
  t.equal(values.get('http_response_size_bytes_bucket{route="*/",pool="web",backend="u1",le="1000"}'), 37, 'the 5000-byte bodies are above the 1000 bucket');
  const buckets = [...values].filter(([k]) => k.startsWith('http_request_duration_seconds_bucket{route="*/"')).map(([, v]) => v);
  t.same([...buckets].sort((a, b) => a - b), buckets, 'buckets are cumulative');

  // VeloFlux's own answer: no route for this host and path.
  t.equal(await get(vf.port, '/v1/x'), 200);
  const noRouteVf = await startVeloflux({ pools: [{ name: 'web', backends: [{ id: 'u1', url: upstream.url }] }], routes: [{ host: 'only.test', path: '/', pool: 'web' }] }, { workers: 1 });
  t.teardown(() => noRouteVf.stop());
  t.equal(await get(noRouteVf.port, '/nothing'), 404);
  const noRoutePort = metricsPort(noRouteVf);
  let own: number | undefined;
  for (let tries = 0; tries < 20 && own === undefined; tries++) {
    await new Promise((r) => setTimeout(r, 150));
    own = samples(await (await fetch(`http://127.0.0.1:${noRoutePort}/metrics`)).text()).get('http_requests_total{route="",pool="",backend="",method="GET",code="404"}');
  }
  t.equal(own, 1, 'answered by VeloFlux itself: counted with empty route, pool and backend');
});

t.test('the families operators need are declared, and /health answers', async (t) => {
  const upstream = await startUpstream();
  const vf = await startVeloflux({ pools: [{ name: 'web', backends: [{ id: 'u1', url: upstream.url }] }], routes: [{ path: '/', pool: 'web' }] }, { workers: 1 });
  t.teardown(async () => {
    await vf.stop();
    await upstream.close();
  });
  const port = metricsPort(vf);
  t.equal(await get(vf.port, '/'), 200);
  let text = '';
  for (let tries = 0; tries < 30 && !text.includes('http_requests_total{'); tries++) {
    await new Promise((r) => setTimeout(r, 150));
    text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  }
  const declared = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
  // The names the alert rules and the Grafana dashboard use (docker/), checked there against the
  // files; here against what VeloFlux really serves, so a renamed metric fails one side or the other.
  for (const [name, spec] of Object.entries(METRIC_SPECS)) t.ok(declared.includes(`${name} ${spec.type}`), `${name} ${spec.type} is served`);
  for (const [name, spec] of Object.entries(METRIC_SPECS)) {
    for (const label of spec.labels) {
      const sample = new RegExp(`^${name}(_bucket)?\\{[^}]*\\b${label}="`, 'm');
      if (name.startsWith('http_') || name.startsWith('veloflux_backend') || name === 'veloflux_upstream_latency_seconds' || name === 'veloflux_config_reloads_total' || name === 'veloflux_build_info') {
        t.match(text, sample, `${name} carries the label ${label}`);
      }
    }
  }
  t.match(text, /veloflux_backend_up\{pool="web",backend="u1"\} 1/);
  t.match(text, /veloflux_build_info\{version="\d+\.\d+\.\d+",node="v\d+/);
  const health = await fetch(`http://127.0.0.1:${port}/health`);
  t.equal(health.status, 200);
  t.match(await health.json(), { status: 'up', workers: 1 });
});
