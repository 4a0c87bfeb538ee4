/**
 * The active health checker against real local HTTP servers: when a backend is published up or
 * down (first probe at once and counted directly, then rise/fall thresholds of consecutive
 * results), what counts as a failure (connect error, timeout, unexpected status), what a probe
 * sends, and how it follows config changes.
 */
import t from 'tap';
import { pino } from 'pino';
import { HealthChecker, statusExpected } from '../../src/primary/health-checker.js';
import { validateConfig } from '../../src/shared/config/load.js';
import type { VelofluxConfig } from '../../src/shared/config/schema.js';
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/processes.js';

const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A backend whose /health answers `status` (changeable), or never answers while `hang` is set;
 * with `script`, probe n answers `script[n - 1]` and the last entry repeats.
 */
interface HealthServer extends Upstream {
  status: number;
  hang: boolean;
  /** Probes received so far. */
  probes(): number;
}

async function healthServer(status = 200, script?: readonly number[]): Promise<HealthServer> {
  const state = { status, hang: false };
  const upstream: Upstream = await startUpstream((req, res) => {
    if (state.hang) return;
    // The helper has already recorded this request.
    const n = upstream.requests.length;
    res.writeHead(script === undefined ? state.status : script[Math.min(n, script.length) - 1]!, { 'content-type': 'text/plain' });
    res.end(req.url);
  });
  // Accessors (Object.assign would copy their values, not the accessors).
  const server = Object.defineProperties(upstream, {
    status: { get: () => state.status, set: (s: number) => (state.status = s) },
    hang: { get: () => state.hang, set: (h: boolean) => (state.hang = h) },
    probes: { value: () => upstream.requests.length },
  }) as HealthServer;
  t.teardown(() => server.close());
  return server;
}

type Check = Record<string, unknown>;

function configOf(backends: { id: string; url: string; weight?: number }[], healthCheck: Check | undefined, extraPools: Record<string, unknown>[] = []): Readonly<VelofluxConfig> {
  return validateConfig(
    {
      pools: [{ name: 'web', backends, ...(healthCheck === undefined ? {} : { healthCheck }) }, ...extraPools],
      routes: [{ path: '/', pool: 'web' }],
    },
    'test',
    {},
  );
}

interface Published {
  states: Record<string, boolean>;
  /** Probes each server had received when this was published. */
  probes: Record<string, number>;
}

/** A checker whose publications are recorded together with how many probes each server had seen. */
function checker(servers: Record<string, HealthServer> = {}): { hc: HealthChecker; published: Published[]; last: () => Record<string, boolean> | undefined } {
  const published: Published[] = [];
  const hc = new HealthChecker(silent, (states) => {
    const probes: Record<string, number> = {};
    for (const [id, s] of Object.entries(servers)) probes[id] = s.probes();
    published.push({ states, probes });
  });
  t.teardown(() => hc.stop());
  return { hc, published, last: () => published.at(-1)?.states };
}

const fast = { interval: '150ms', timeout: '150ms' };

t.test('statusExpected: exact numbers and inclusive ranges', async (t) => {
  t.equal(statusExpected(200, [200]), true);
  t.equal(statusExpected(204, [200]), false);
  t.equal(statusExpected(204, [200, 204]), true);
  t.equal(statusExpected(200, ['200-399']), true, 'low end of a range');
  t.equal(statusExpected(399, ['200-399']), true, 'high end of a range');
  t.equal(statusExpected(301, ['200-399']), true);
  t.equal(statusExpected(199, ['200-399']), false, 'below a range');
  t.equal(statusExpected(400, ['200-399']), false, 'above a range');
  t.equal(statusExpected(500, ['200-299', 503]), false);
  t.equal(statusExpected(503, ['200-299', 503]), true, 'a number beside a range');
  t.equal(statusExpected(418, ['200-299', '400-499']), true, 'second range');
});

t.test('the first probe runs at once and counts directly: a backend down at start is out after one probe', async (t) => {
  const up = await healthServer(200);
  const down = await healthServer(500);
  const refused = await closedPort();
  const { hc, published, last } = checker({ up, down });
  const started = Date.now();
  // A long interval and a high fall threshold: only the immediate, directly counted first probe can explain the result.
  hc.update(
    configOf(
      [
        { id: 'up', url: up.url },
        { id: 'down', url: down.url },
        { id: 'refused', url: `http://127.0.0.1:${refused}` },
      ],
      { interval: '1m', timeout: '1s', unhealthyThreshold: 5 },
    ),
  );
  await waitFor(() => last()?.down === false && last()?.refused === false, 2000, 'both failing backends published unhealthy');
  t.ok(Date.now() - started < 1500, 'well before the interval');
  t.same(last(), { up: true, down: false, refused: false });
  t.equal(down.probes(), 1, 'one probe was enough');
  t.equal(up.probes(), 1);
  t.notOk(published.some((p) => p.states.up === false), 'the passing backend was never published down');
  const refusedProbe = hc.details().find((d) => d.id === 'refused')!.lastProbe!;
  t.equal(refusedProbe.ok, false);
  t.equal(refusedProbe.error, 'ECONNREFUSED', 'the connect error is named');
});

t.test('fall needs unhealthyThreshold consecutive failures, rise needs healthyThreshold consecutive passes', async (t) => {
  // The server answers a scripted status per probe, the last one repeating.
  const script = [200, 500, 500, 200, 500, 500, 500, 200, 500, 200, 200];
  const flappy = await healthServer(200, script);
  const { hc, published } = checker({ a: flappy });
  hc.update(configOf([{ id: 'a', url: flappy.url }], { ...fast, healthyThreshold: 2, unhealthyThreshold: 3 }));
  await waitFor(() => flappy.probes() >= script.length + 2, 5000, 'the whole script and two more probes');
  // The start state is published with the config. Probes 2-3 fail but 4 passes (not 3 in a row);
  // 5-7 fail: out at probe 7. Probe 8 passes, 9 fails, 10-11 pass: back at probe 11, not at 8 or 10.
  t.same(
    published.map((p) => ({ healthy: p.states.a, atProbe: p.probes.a })),
    [
      { healthy: true, atProbe: 0 },
      { healthy: false, atProbe: 7 },
      { healthy: true, atProbe: 11 },
    ],
  );
  const last = hc.details()[0]!;
  t.equal(last.healthy, true);
  t.equal(last.lastProbe?.ok, true);
  t.equal(last.lastProbe?.status, 200);
});

t.test('flipping a backend: out after the fall threshold, back after the rise threshold', async (t) => {
  const a = await healthServer(200);
  const { hc, published, last } = checker({ a });
  hc.update(configOf([{ id: 'a', url: a.url }], { ...fast, healthyThreshold: 3, unhealthyThreshold: 2 }));
  await waitFor(() => a.probes() >= 2, 2000, 'two passing probes');
  t.same(published.map((p) => p.states), [{ a: true }], 'only the start state, with the config');

  a.status = 503;
  const flippedDownAt = a.probes();
  await waitFor(() => last()?.a === false, 2000, 'published unhealthy');
  t.equal(published.at(-1)!.probes.a - flippedDownAt, 2, 'after exactly 2 failing probes');

  a.status = 200;
  const flippedUpAt = a.probes();
  await waitFor(() => last()?.a === true, 2000, 'published healthy');
  t.equal(published.at(-1)!.probes.a - flippedUpAt, 3, 'after exactly 3 passing probes');
  t.equal(published.length, 3, 'one publication per change');
});

t.test('a probe that gets no answer within the timeout is a failure', async (t) => {
  const a = await healthServer(200);
  a.hang = true;
  const { hc, last } = checker({ a });
  hc.update(configOf([{ id: 'a', url: a.url }], { interval: '200ms', timeout: '100ms' }));
  await waitFor(() => last()?.a === false, 2000, 'published unhealthy');
  const probe = hc.details()[0]!.lastProbe!;
  t.equal(probe.ok, false);
  t.equal(probe.status, undefined, 'no status: nothing was answered');
  t.ok(probe.durationMs >= 90 && probe.durationMs < 1000, `gave up after about the timeout (${probe.durationMs} ms)`);
  t.type(probe.error, 'string', 'the error is a readable name');
  t.match(probe.error, /timeout/i);

  // Answers again: back after the rise threshold.
  a.hang = false;
  await waitFor(() => last()?.a === true, 2000, 'published healthy again');
});

t.test('an unexpected status is a failure: 500 by default, 200 when only 204 is expected', async (t) => {
  const five = await healthServer(500);
  const ok200 = await healthServer(200);
  const ok204 = await healthServer(204);
  const { hc, last } = checker({ five, ok200, ok204 });
  hc.update(
    configOf([{ id: 'five', url: five.url }], fast, [
      {
        name: 'strict',
        healthCheck: { ...fast, expectedStatuses: [204] },
        backends: [
          { id: 'ok200', url: ok200.url },
          { id: 'ok204', url: ok204.url },
        ],
      },
    ]),
  );
  await waitFor(() => last()?.five === false && last()?.ok200 === false, 2000, 'both published unhealthy');
  await sleep(250);
  t.same(hc.states(), { five: false, ok200: false, ok204: true });
  const byId = new Map(hc.details().map((d) => [d.id, d]));
  t.match(byId.get('five')!.lastProbe, { ok: false, status: 500, error: 'unexpected status 500' });
  t.match(byId.get('ok200')!.lastProbe, { ok: false, status: 200, error: 'unexpected status 200' });
  t.match(byId.get('ok204')!.lastProbe, { ok: true, status: 204 });
  t.equal(byId.get('ok204')!.pool, 'strict');
});

t.test('what a probe sends: GET on the path, the Host header option, no keep-alive reuse', async (t) => {
  const plain = await healthServer(200);
  const named = await healthServer(200);
  const { hc } = checker();
  hc.update(
    configOf([{ id: 'plain', url: plain.url }], { ...fast, path: '/healthz?deep=1' }, [
      { name: 'named', healthCheck: { ...fast, host: 'api.internal' }, backends: [{ id: 'named', url: named.url }] },
    ]),
  );
  await waitFor(() => plain.probes() >= 3 && named.probes() >= 3, 2000, 'three probes each');
  const seen = plain.requests[0]!;
  t.equal(seen.method, 'GET');
  t.equal(seen.url, '/healthz?deep=1');
  t.equal(seen.headers.host, `127.0.0.1:${plain.port}`, 'default Host: the backend host:port');
  t.equal(seen.headers['user-agent'], 'veloflux-health-check');
  t.equal(named.requests[0]!.url, '/health', 'default path');
  t.ok(named.requests.every((r) => r.headers.host === 'api.internal'), 'the configured Host on every probe');
  t.ok(plain.connections >= 3, `a new connection per probe (${plain.connections} for ${plain.probes()} probes)`);
});

t.test('startHealthy false: unhealthy until the first pass, which counts directly', async (t) => {
  const a = await healthServer(200);
  const b = await healthServer(500);
  const { hc, published, last } = checker({ a, b });
  hc.update(configOf([{ id: 'a', url: a.url }, { id: 'b', url: b.url }], { ...fast, startHealthy: false, healthyThreshold: 3 }));
  t.same(hc.states(), { a: false, b: false }, 'both count as down before any probe');
  await waitFor(() => last()?.a === true, 2000, 'a published healthy');
  t.equal(published.find((p) => p.states.a === true)!.probes.a, 1, 'after its first pass, despite healthyThreshold 3');
  await sleep(300);
  t.equal(hc.states().b, false, 'a failing backend never counted as up');
  t.notOk(published.some((p) => p.states.b === true), 'and was never published up');
});

t.test('update(): a removed backend is dropped and republished, an unchanged one keeps its state and schedule', async (t) => {
  const a = await healthServer(200);
  const b = await healthServer(500);
  const { hc, last } = checker({ a, b });
  const check = { interval: '300ms', timeout: '300ms', unhealthyThreshold: 1 };
  hc.update(configOf([{ id: 'a', url: a.url }, { id: 'b', url: b.url }], check));
  await waitFor(() => last()?.b === false, 2000, 'b published unhealthy');

  // Same backends, another weight: no new probe at once, b stays out.
  const probesBefore = a.probes() + b.probes();
  hc.update(configOf([{ id: 'a', url: a.url, weight: 5 }, { id: 'b', url: b.url, weight: 3 }], check));
  await sleep(50);
  t.equal(a.probes() + b.probes(), probesBefore, 'an unchanged backend is not re-probed on a config change');
  t.same(hc.states(), { a: true, b: false }, 'state kept');

  hc.update(configOf([{ id: 'a', url: a.url }], check));
  t.same(last(), { a: true }, 'the removed backend is gone from what the workers get');
  t.same(hc.details().map((d) => d.id), ['a']);
  const bProbes = b.probes();
  await sleep(700);
  t.equal(b.probes(), bProbes, 'and is no longer probed');
  t.ok(a.probes() > 1, 'the other one still is');

  // The pool loses its healthCheck: nothing is checked any more.
  hc.update(configOf([{ id: 'a', url: a.url }], undefined));
  t.same(last(), {}, 'an unchecked pool has no health entries');
});

t.test('update(): a changed URL is probed at once and what the workers get follows the new server', async (t) => {
  const bad = await healthServer(500);
  const good = await healthServer(200);
  const worse = await healthServer(500);
  const { hc, last } = checker({ bad, good, worse });
  const check = { interval: '1m', timeout: '1s', unhealthyThreshold: 3, healthyThreshold: 3 };
  hc.update(configOf([{ id: 'a', url: bad.url }], check));
  await waitFor(() => last()?.a === false, 2000, 'a (bad) published unhealthy');

  hc.update(configOf([{ id: 'a', url: good.url }], check));
  await waitFor(() => good.probes() === 1, 2000, 'the new URL probed at once');
  await sleep(100);
  t.same(last(), { a: true }, 'the workers are told a is healthy at its new address');
  t.equal(hc.details()[0]!.lastProbe?.status, 200);

  hc.update(configOf([{ id: 'a', url: worse.url }], check));
  await waitFor(() => last()?.a === false, 2000, 'a (worse) published unhealthy');
  t.equal(worse.probes(), 1, 'after its first probe');
  t.equal(good.probes(), 1, 'the old URL is not probed any more');
});

t.test('update(): new check settings on the same URL keep what is known about the backend', async (t) => {
  const a = await healthServer(500);
  const { hc, published, last } = checker({ a });
  hc.update(configOf([{ id: 'a', url: a.url }], { interval: '150ms', timeout: '150ms', unhealthyThreshold: 1 }));
  await waitFor(() => last()?.a === false, 2000, 'a published unhealthy');
  const count = published.length;
  hc.update(configOf([{ id: 'a', url: a.url }], { interval: '200ms', timeout: '150ms', unhealthyThreshold: 1 }));
  t.equal(hc.states().a, false, 'still unhealthy under the new settings');
  t.notOk(published.slice(count).some((p) => p.states.a === true), 'never published healthy in between');
  await sleep(300);
  t.equal(last()?.a, false);
  t.notOk(published.slice(count).some((p) => p.states.a === true), 'nor after the next probes');
});

t.test('update(): a backend moved to another pool is reported under that pool, its state kept', async (t) => {
  const a = await healthServer(500);
  const { hc, last } = checker({ a });
  const check = { interval: '150ms', timeout: '150ms', unhealthyThreshold: 1 };
  hc.update(configOf([{ id: 'a', url: a.url }], check));
  await waitFor(() => last()?.a === false, 2000, 'a published unhealthy');
  const other = await healthServer(200);
  hc.update(configOf([{ id: 'o', url: other.url }], check, [{ name: 'api', healthCheck: check, backends: [{ id: 'a', url: a.url }] }]));
  t.equal(hc.details().find((d) => d.id === 'a')?.pool, 'api');
  t.equal(hc.states().a, false, 'still unhealthy');
});

t.test('stop(): no probe after it', async (t) => {
  const a = await healthServer(200);
  const { hc } = checker({ a });
  hc.update(configOf([{ id: 'a', url: a.url }], fast));
  await waitFor(() => a.probes() >= 2, 2000, 'two probes');
  hc.stop();
  const n = a.probes();
  await sleep(350);
  t.equal(a.probes(), n);
  t.same(hc.states(), {});
});
