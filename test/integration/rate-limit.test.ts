/**
 * Rate limits on a real VeloFlux (2 workers) in front of a real upstream: a global rate R holds
 * within 5% under an offered 3R spread over keep-alive connections on both workers; keys are
 * isolated (key A refused, key B served); a 429 carries its error code and the RateLimit headers
 * (WebSocket upgrades included) and is counted in /metrics; an unknown policy name is refused
 * with its path; a hot reload keeps the buckets (a client cannot reset its limit by waiting for
 * one).
 */
import t from 'tap';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { pacedLoad } from '../helpers/paced-load.js';
import { startUpstream } from '../helpers/upstream.js';
import { startVeloflux, type RunningVeloflux } from '../helpers/veloflux.js';

const R = 200;
const LOAD_SECONDS = 5;

const upstream = await startUpstream();
t.teardown(() => upstream.close());

const config = {
  pools: [{ name: 'web', backends: [{ id: 'u1', url: upstream.url }] }],
  routes: [
    { path: '/', pool: 'web' },
    { path: '/global/', pool: 'web', rateLimit: 'global' },
    { path: '/keyed/', pool: 'web', rateLimit: 'per-key' },
    { path: '/slow/', pool: 'web', rateLimit: 'slow' },
  ],
  rateLimits: [
    { name: 'global', key: 'route', rate: R, burst: 20 },
    { name: 'per-key', key: 'header:x-api-key', rate: 20, burst: 10 },
    { name: 'slow', key: 'header:x-api-key', rate: 1, per: '1m', burst: 2 },
  ],
};

const vf = await startVeloflux(config, { workers: 2 });
t.teardown(() => vf.stop());

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function get(path: string, options: { agent?: Agent | false; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: vf.port, path, agent: options.agent ?? false, headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function metricsPort(running: RunningVeloflux): number {
  return (running.logs().find((l) => l.msg === 'veloflux ready')!.metrics as { port: number }).port;
}

async function sample(series: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort(vf)}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

t.test(`a global rate of ${R}/s holds within 5% under ${3 * R}/s offered over keep-alive connections`, async (t) => {
  const { counts, sent, seconds, okPerSecond } = await pacedLoad({ ports: [vf.port], path: '/global/x', ratePerSecond: 3 * R, seconds: LOAD_SECONDS, connectionsPerPort: 8 });
  // Steady state: leave out the first second (the burst, and the first shares by demand).
  const steady = okPerSecond.slice(1);
  const rate = steady.reduce((a, b) => a + b, 0) / steady.length;
  t.comment(`sent ${sent} in ${seconds.toFixed(2)} s (${(sent / seconds).toFixed(0)}/s): ${JSON.stringify(counts)}; accepted per second ${okPerSecond.join(', ')}`);
  t.same(Object.keys(counts).sort(), ['200', '429'], 'only 200s and 429s, no errors');
  t.ok(Math.abs(rate - R) / R <= 0.05, `accepted ${rate.toFixed(1)}/s after the first second: within 5% of ${R}/s`);
});

t.test('keys are isolated: key A refused, key B served; the 429 says why and when to come back', async (t) => {
  const agents = Array.from({ length: 4 }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  t.teardown(() => agents.forEach((a) => a.destroy()));
  const a = await Promise.all(Array.from({ length: 40 }, (_, i) => get('/keyed/a', { agent: agents[i % 4]!, headers: { 'x-api-key': 'A' } })));
  const okA = a.filter((x) => x.status === 200).length;
  const refusedA = a.filter((x) => x.status === 429);
  t.ok(okA >= 10 && okA <= 15, `key A: its burst of 10 (and what refills meanwhile) passed (${okA})`);
  t.equal(refusedA.length, 40 - okA, 'the rest refused');

  // A WebSocket upgrade is a request like any other: refused before any upstream work. Sent at
  // once, while key A's bucket is still empty (it refills one token every 50 ms).
  const upgrade = await new Promise<number>((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port: vf.port,
      path: '/keyed/ws',
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'x-api-key': 'A' },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve(101);
    });
    req.on('error', reject);
    req.end();
  });
  t.equal(upgrade, 429, 'an upgrade with key A is refused too');

  const b = await Promise.all(Array.from({ length: 4 }, (_, i) => get('/keyed/b', { agent: agents[i % 4]!, headers: { 'x-api-key': 'B' } })));
  t.same(b.map((x) => x.status), [200, 200, 200, 200], 'key B unaffected');
  const noKey = await get('/keyed/c');
  t.equal(noKey.status, 200, 'no key: counted by client address, a bucket of its own');

  const refusal = refusedA[0]!;
  t.equal(refusal.headers['content-type'], 'application/json');
  t.same(JSON.parse(refusal.body), { error: { code: 'VF_ERR_RATE_LIMITED', message: 'Too many requests: the rate limit for this route was reached' } });
  const retryAfter = Number(refusal.headers['retry-after']);
  t.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After: ${refusal.headers['retry-after']} (whole seconds, at least 1)`);
  t.equal(refusal.headers['ratelimit-limit'], '20');
  t.equal(refusal.headers['ratelimit-remaining'], '0');
  const reset = Number(refusal.headers['ratelimit-reset']);
  t.ok(Number.isInteger(reset) && reset >= 1 && reset <= 2, `RateLimit-Reset: ${refusal.headers['ratelimit-reset']} (burst 10 at 20/s: within 1 s, rounded up)`);
  t.equal(refusal.headers['ratelimit-policy'], '20;w=1;burst=10;policy="per-key"');
  t.equal(upstream.requests.filter((r) => r.url === '/keyed/a').length, okA, 'refused requests never reached the upstream');


  // /metrics: 429s by route and policy, and in http_requests_total under the route.
  const refusedTotal = refusedA.length + 1;
  let limited: number | undefined;
  for (let i = 0; i < 30 && limited !== refusedTotal; i++) {
    await new Promise((r) => setTimeout(r, 150));
    limited = await sample('veloflux_rate_limited_requests_total{route="*/keyed/",policy="per-key"}');
  }
  t.equal(limited, refusedTotal, 'veloflux_rate_limited_requests_total counts every 429 of the route');
  t.equal(await sample('http_requests_total{route="*/keyed/",pool="web",backend="",method="GET",code="429"}'), refusedTotal, 'http_requests_total has them under the route, code 429');
});

t.test('an unknown policy name is refused with its path', async (t) => {
  const current = await vf.admin('/admin/config');
  const body = (await current.json()) as typeof config;
  body.routes.push({ path: '/typo/', pool: 'web', rateLimit: 'per-kee' });
  const res = await vf.admin('/admin/config', { method: 'PUT', body: JSON.stringify(body), headers: { 'if-match': current.headers.get('etag')! } });
  t.equal(res.status, 422);
  const problems = ((await res.json()) as { error: { problems?: string[] } }).error.problems ?? [];
  t.ok(problems.includes('routes[4].rateLimit: unknown rate limit "per-kee"'), problems.join('; '));
});

t.test('a hot reload keeps the buckets of unchanged policies', async (t) => {
  // Fresh connections alternate between the workers, so both spend their share of the burst.
  const before = [];
  for (let i = 0; i < 8; i++) before.push((await get('/slow/x', { headers: { 'x-api-key': 'K' } })).status);
  t.ok(before.filter((s) => s === 200).length <= 3, `the burst of 2 is spent (${before.join(' ')})`);
  t.same(before.slice(-3), [429, 429, 429]);

  const current = await vf.admin('/admin/config');
  const body = (await current.json()) as typeof config;
  body.routes.push({ path: '/extra/', pool: 'web' });
  const put = await vf.admin('/admin/config', { method: 'PUT', body: JSON.stringify(body), headers: { 'if-match': current.headers.get('etag')! } });
  t.equal(put.status, 200, 'the change is applied');
  t.equal((await get('/extra/y')).status, 200, 'the new route serves');

  const after = [];
  for (let i = 0; i < 6; i++) after.push((await get('/slow/x', { headers: { 'x-api-key': 'K' } })).status);
  t.same(after, [429, 429, 429, 429, 429, 429], 'still refused on every worker: the reload did not refill the bucket');
  t.equal((await get('/slow/x', { headers: { 'x-api-key': 'L' } })).status, 200, 'another key still passes');
});
