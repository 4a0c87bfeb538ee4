/**
 * Config changes on a loaded, real VeloFlux (2 workers): 100 PUTs under steady traffic drop
 * nothing (the latency figures are printed as comments); an invalid config or one a worker cannot
 * apply leaves every worker on the old config (proven by which upstream answers on many fresh
 * connections, spread over both workers); static settings in a reloaded file are reported as
 * needing a restart; a rolling restart under load refuses no connection.
 * A WebSocket opened before the 100 changes must stay open and keep carrying messages.
 */
import t, { type Test } from 'tap';
import { writeFileSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { parse, stringify } from 'yaml';
import { refusingWorker1, startVeloflux, type RunningVeloflux } from '../helpers/veloflux.js';
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js';
import { childPids, waitFor } from '../helpers/processes.js';
import { WebSocket, WebSocketServer } from 'ws';

interface ErrorBody {
  error: { code: string; message: string; problems?: string[] };
}
interface ChangeResult {
  configVersion: number;
  etag: string;
  needsRestart: string[];
  skipped: string[];
}
type Dynamic = {
  pools: { name: string; backends: { id: string; url: string; weight?: number }[] }[];
  routes: { path: string; pool: string }[];
};

const upstreams: Upstream[] = await Promise.all([startUpstream(), startUpstream(), startUpstream(), startUpstream()]);
// Every upstream also echoes WebSocket messages, wherever the balancer sends the upgrade.
const echoServers = upstreams.map((u) => {
  const wss = new WebSocketServer({ server: u.server });
  wss.on('connection', (socket) => socket.on('message', (data) => socket.send(`echo:${data.toString()}`)));
  return wss;
});
t.teardown(() => echoServers.forEach((wss) => wss.close()));
const [A, B, C] = upstreams as [Upstream, Upstream, Upstream, Upstream];
const nameOf = new Map(upstreams.map((u, i) => [u.port, 'ABCD'[i]!]));
t.teardown(() => Promise.all(upstreams.map((u) => u.close())));

const webOn = (...backends: Upstream[]): Dynamic => ({
  pools: [{ name: 'web', backends: backends.map((u) => ({ id: `u-${nameOf.get(u.port)}`, url: u.url })) }],
  routes: [{ path: '/', pool: 'web' }],
});

/** One GET on a new connection: the upstream that answered (A..D), `status N`, or `error CODE`. */
function getOnce(port: number, path = '/', timeoutMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? (nameOf.get(Number(res.headers['x-upstream-port'])) ?? '?') : `status ${res.statusCode}`));
      res.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function traffic(vf: RunningVeloflux, n: number, path = '/'): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const who = await getOnce(vf.port, path);
    counts[who] = (counts[who] ?? 0) + 1;
  }
  return counts;
}

async function workerRequests(vf: RunningVeloflux): Promise<Map<number, number>> {
  const metrics = (await (await vf.admin('/admin/metrics')).json()) as { workers: { pid: number; requests: number }[] };
  return new Map(metrics.workers.map((w) => [w.pid, w.requests]));
}

/**
 * Runs `send` (traffic on fresh connections) and proves from the workers' own counters that
 * every worker served part of it. Stats arrive once a second, hence the polling.
 */
async function onEveryWorker(t: Test, vf: RunningVeloflux, send: () => Promise<void>): Promise<void> {
  const before = await workerRequests(vf);
  await send();
  let after = before;
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    after = await workerRequests(vf);
    if ([...before].every(([pid, n]) => (after.get(pid) ?? 0) > n)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  t.equal(after.size, 2, 'two workers');
  for (const [pid, n] of before) t.ok((after.get(pid) ?? 0) > n, `worker ${pid} served some of it (${n} -> ${after.get(pid)} requests)`);
}

async function configOf(vf: RunningVeloflux): Promise<{ etag: string; body: Dynamic }> {
  const res = await vf.admin('/admin/config');
  return { etag: res.headers.get('etag')!, body: (await res.json()) as Dynamic };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

interface LoadFigures {
  sent: number;
  ok: number;
  non2xx: number;
  /** Socket errors and timeouts, by code. */
  errors: string[];
  /** Milliseconds, sorted. */
  latencies: number[];
}

const emptyFigures = (): LoadFigures => ({ sent: 0, ok: 0, non2xx: 0, errors: [], latencies: [] });

/**
 * Open-loop load at a steady `rate` (requests per second, paced every few ms, not in bursts) over
 * 10 keep-alive connections used in turn (the primary hands new connections to the workers in
 * turn, so both get some), plus a sequential loop that opens a new connection per request.
 */
function steadyLoad(vf: RunningVeloflux, rate: number) {
  const keepAlive = emptyFigures();
  const fresh = emptyFigures();
  const agents = Array.from({ length: 10 }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  let stopped = false;

  const send = (figures: LoadFigures, agent: Agent | false, path: string) =>
    new Promise<void>((resolve) => {
      const sentAt = performance.now();
      figures.sent++;
      const req = request({ host: '127.0.0.1', port: vf.port, path, agent, timeout: 5000 }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) figures.ok++;
          else figures.non2xx++;
          figures.latencies.push(performance.now() - sentAt);
          resolve();
        });
        res.on('error', (err: NodeJS.ErrnoException) => {
          figures.errors.push(err.code ?? err.message);
          resolve();
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        figures.errors.push(err.code ?? err.message);
        resolve();
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.end();
    });

  const pacer = setInterval(() => {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (keepAlive.sent < due) {
      const p = send(keepAlive, agents[keepAlive.sent % agents.length]!, '/steady');
      inFlight.add(p);
      void p.then(() => inFlight.delete(p));
    }
  }, 4);
  const freshLoop = (async () => {
    while (!stopped) {
      await send(fresh, false, '/fresh');
      await new Promise((r) => setTimeout(r, 5));
    }
  })();

  return {
    async end(): Promise<{ keepAlive: LoadFigures; fresh: LoadFigures; seconds: number }> {
      stopped = true;
      clearInterval(pacer);
      const seconds = (performance.now() - started) / 1000;
      await Promise.all([...inFlight, freshLoop]);
      for (const agent of agents) agent.destroy();
      keepAlive.latencies.sort((a, b) => a - b);
      fresh.latencies.sort((a, b) => a - b);
      return { keepAlive, fresh, seconds };
    },
  };
}

t.test('100 config changes under steady load: 0 socket errors, 0 non-2xx', async (t) => {
  const vf = await startVeloflux(webOn(A, B), { workers: 2 });
  t.teardown(() => vf.stop());
  const RATE = 500;
  // Warm up (upstream keep-alive pools, JIT), then a baseline window without changes.
  const warmup = steadyLoad(vf, RATE);
  await new Promise((r) => setTimeout(r, 1000));
  await warmup.end();
  const baselineRun = steadyLoad(vf, RATE);
  await new Promise((r) => setTimeout(r, 3000));
  const baseline = await baselineRun.end();

  // A WebSocket opened before the changes must stay open through all of them.
  const ws = new WebSocket(`${vf.url.replace('http', 'ws')}/ws`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let wsClosed = false;
  ws.once('close', () => (wsClosed = true));
  const echoes: string[] = [];
  ws.on('message', (data) => echoes.push(data.toString()));

  const reloadRun = steadyLoad(vf, RATE);
  await new Promise((r) => setTimeout(r, 300));
  let { etag } = await configOf(vf);
  const statuses: Record<number, number> = {};
  let lastVersion = 0;
  let versionsGrow = true;
  let final: Dynamic | undefined;
  const changesStarted = performance.now();
  for (let i = 0; i < 100; i++) {
    // Rotate membership (one of the four upstreams is left out on even steps: added and removed)
    // and weights (1..5) on every step.
    const members = upstreams.filter((_, k) => i % 2 === 1 || k !== (i / 2) % 4);
    const dynamic: Dynamic = webOn(...members);
    dynamic.pools[0]!.backends.forEach((b, k) => (b.weight = 1 + ((i + k) % 5)));
    const res = await vf.admin('/admin/config', { method: 'PUT', body: JSON.stringify(dynamic), headers: { 'if-match': etag } });
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    const result = (await res.json()) as ChangeResult;
    if (res.status !== 200) {
      t.fail(`change ${i}: ${res.status} ${JSON.stringify(result)}`);
      break;
    }
    if (result.configVersion <= lastVersion) versionsGrow = false;
    lastVersion = result.configVersion;
    etag = result.etag;
    final = dynamic;
    if (i % 10 === 9) ws.send(`after-${i + 1}`);
  }
  const changesMs = performance.now() - changesStarted;
  await new Promise((r) => setTimeout(r, 300));
  const during = await reloadRun.end();

  t.same(statuses, { 200: 100 }, 'all 100 changes applied');
  await waitFor(() => echoes.length === 10 || wsClosed, 5000, 'the WebSocket echoes');
  t.notOk(wsClosed, 'the WebSocket opened before the changes stayed open throughout');
  t.same(echoes, Array.from({ length: 10 }, (_, k) => `echo:after-${(k + 1) * 10}`), 'and carried messages between them');
  ws.close();
  t.ok(versionsGrow, 'config versions only grow');
  t.same((await configOf(vf)).body, final, 'the last change is in force');
  // The last step (i = 99, odd) has all four upstreams.
  const spread = await traffic(vf, 40);
  t.same(Object.keys(spread).sort(), ['A', 'B', 'C', 'D'], `every worker serves the last change: ${JSON.stringify(spread)}`);

  for (const [name, run] of [
    ['baseline', baseline],
    ['during changes', during],
  ] as const) {
    for (const kind of ['keepAlive', 'fresh'] as const) {
      const figures = run[kind];
      t.same(figures.errors, [], `${name}, ${kind}: 0 socket errors or timeouts`);
      t.equal(figures.non2xx, 0, `${name}, ${kind}: 0 non-2xx`);
      t.equal(figures.ok, figures.sent, `${name}, ${kind}: every request answered 200`);
    }
  }

  const figure = (f: LoadFigures) =>
    `${f.sent} sent, ${f.ok} 2xx, ${f.non2xx} non-2xx, ${f.errors.length} errors, p50 ${percentile(f.latencies, 50).toFixed(2)} ms, p99 ${percentile(f.latencies, 99).toFixed(2)} ms, max ${percentile(f.latencies, 100).toFixed(2)} ms`;
  t.comment(`load: ${RATE} req/s steady over 10 keep-alive connections + a sequential new-connection-per-request loop; 2 workers`);
  t.comment(`baseline, no changes (${baseline.seconds.toFixed(2)} s): keep-alive ${figure(baseline.keepAlive)}; new connections ${figure(baseline.fresh)}`);
  t.comment(
    `during 100 PUT /admin/config (${during.seconds.toFixed(2)} s window, changes took ${(changesMs / 1000).toFixed(2)} s = ${(changesMs / 100).toFixed(1)} ms each): ` +
      `keep-alive ${figure(during.keepAlive)}; new connections ${figure(during.fresh)}`,
  );
});

t.test('an invalid config is rejected whole: every worker keeps the old one', async (t) => {
  const vf = await startVeloflux(webOn(A), { workers: 2 });
  t.teardown(() => vf.stop());
  const before = await configOf(vf);
  const seenByB = B.requests.length;

  // Valid in parts (pool web now on B), invalid as a whole.
  const invalid = { ...webOn(B), routes: [{ path: '/', pool: 'web' }, { path: '/api', pool: 'api' }] };
  const res = await vf.admin('/admin/config', { method: 'PUT', body: JSON.stringify(invalid), headers: { 'if-match': before.etag } });
  t.equal(res.status, 422);
  const body = (await res.json()) as ErrorBody;
  t.equal(body.error.code, 'VF_ERR_CONFIG_INVALID');
  t.match(body.error.problems, ['routes[1].pool: unknown pool "api"']);

  // The same through the file: an invalid file and a file that is not even YAML.
  const file = parse(readFileSync(vf.configFile, 'utf8')) as Record<string, unknown>;
  writeFileSync(vf.configFile, stringify({ ...file, ...webOn(B), routes: [{ path: '/', pool: 'web', stripPrefix: 'yes' }] }));
  const reload = await vf.admin('/admin/reload', { method: 'POST' });
  t.equal(reload.status, 422);
  t.match(((await reload.json()) as ErrorBody).error.problems, [/^routes\[0\]\.stripPrefix: /]);
  writeFileSync(vf.configFile, 'pools: [\n');
  const broken = await vf.admin('/admin/reload', { method: 'POST' });
  t.equal(broken.status, 422);
  t.match(((await broken.json()) as ErrorBody).error.problems, [/YAML/]);

  t.equal((await configOf(vf)).etag, before.etag, 'ETag unchanged');
  await onEveryWorker(t, vf, async () => {
    t.same(await traffic(vf, 40), { A: 40 }, '40 fresh connections all answered by the old config');
  });
  t.equal(B.requests.length, seenByB, 'the rejected backend never saw a request');
});

t.test('a change one worker cannot apply is applied on no worker', async (t) => {
  const vf = await startVeloflux(webOn(A), { workers: 2, env: refusingWorker1('canary') });
  t.teardown(() => vf.stop());
  const before = await configOf(vf);
  const seenByB = B.requests.length;
  const seenByC = C.requests.length;

  // Worker 1 refuses any config with a pool named "canary"; worker 2 would apply it.
  const change = {
    pools: [...webOn(B).pools, { name: 'canary', backends: [{ id: 'canary-1', url: C.url }] }],
    routes: [
      { path: '/', pool: 'web' },
      { path: '/canary', pool: 'canary' },
    ],
  };
  const res = await vf.admin('/admin/config', { method: 'PUT', body: JSON.stringify(change), headers: { 'if-match': before.etag } });
  t.equal(res.status, 500);
  const body = (await res.json()) as ErrorBody;
  t.equal(body.error.code, 'VF_ERR_APPLY_FAILED');
  t.match(body.error.message, /not applied on any worker: worker 1: refusing pool "canary"/);

  const after = await configOf(vf);
  t.equal(after.etag, before.etag, 'ETag unchanged');
  t.same(after.body, before.body, 'GET /admin/config unchanged');
  await onEveryWorker(t, vf, async () => {
    t.same(await traffic(vf, 30), { A: 30 }, '/ is still served by the old pool on every connection');
    t.same(await traffic(vf, 30, '/canary/x'), { A: 30 }, '/canary has no route of its own');
  });
  t.equal(B.requests.length, seenByB, 'the new web backend got nothing');
  t.equal(C.requests.length, seenByC, 'the canary backend got nothing');

  const audit = (await (await vf.admin('/admin/audit?limit=1')).json()) as { entries: { action: string; outcome: string; detail: string }[] };
  t.match(audit.entries[0], { action: 'config.replace', outcome: 'failed', detail: /refusing pool "canary"/ });

  // Not wedged: a change every worker accepts goes through.
  const ok = await vf.admin('/admin/config', { method: 'PUT', body: JSON.stringify(webOn(B)), headers: { 'if-match': before.etag } });
  t.equal(ok.status, 200);
  t.same(await traffic(vf, 20), { B: 20 });
});

t.test('a change one worker cannot apply is never served, not even until the rollback', async (t) => {
  const vf = await startVeloflux(webOn(A), { workers: 2, env: refusingWorker1('canary') });
  t.teardown(() => vf.stop());
  const { etag } = await configOf(vf);
  const seenByB = B.requests.length;
  const run = steadyLoad(vf, 400);
  const change = { pools: [...webOn(B).pools, { name: 'canary', backends: [{ id: 'canary-1', url: C.url }] }], routes: webOn(B).routes };
  for (let i = 0; i < 20; i++) {
    const res = await vf.admin('/admin/config', { method: 'PUT', body: JSON.stringify(change), headers: { 'if-match': etag } });
    await res.text();
  }
  const figures = await run.end();
  t.ok(figures.keepAlive.ok > 0, 'traffic flowed');
  t.equal(B.requests.length, seenByB, 'no request reached a backend of the refused change');
});

t.test('static settings changed in the file are reported as needing a restart, not applied', async (t) => {
  const vf = await startVeloflux(webOn(A), { workers: 2 });
  t.teardown(() => vf.stop());
  const newPort = await closedPort();
  const file = parse(readFileSync(vf.configFile, 'utf8')) as { server: { workers: number; http: { port: number } } };
  file.server.workers = 3;
  file.server.http.port = newPort;
  writeFileSync(vf.configFile, stringify({ ...file, ...webOn(B) }));

  const res = await vf.admin('/admin/reload', { method: 'POST' });
  t.equal(res.status, 200);
  const result = (await res.json()) as ChangeResult;
  t.same([...result.needsRestart].sort(), ['server.http.port', 'server.workers']);

  t.same(await traffic(vf, 10), { B: 10 }, 'the dynamic part is applied, on the old port');
  t.match(await getOnce(newPort), /^error ECONNREFUSED/, 'nothing listens on the new port');
  t.equal(childPids(vf.process.pid!).length, 2, 'still two workers');
  const health = (await (await fetch(`${vf.adminUrl}/admin/health`)).json()) as { workers: { expected: number } };
  t.equal(health.workers.expected, 2);
  const logged = vf.logs().find((l) => l.msg === 'static settings changed in the file: they take effect after a restart');
  t.ok(logged, 'and logged');
});

t.test('rolling restart under load: no connection refused, every worker replaced', async (t) => {
  const vf = await startVeloflux(webOn(A, B), { workers: 2 });
  t.teardown(() => vf.stop());
  const oldPids = childPids(vf.process.pid!);
  t.equal(oldPids.length, 2);

  let stop = false;
  let sent = 0;
  const failures: string[] = [];
  const clients = Array.from({ length: 4 }, async () => {
    while (!stop) {
      const who = await getOnce(vf.port, '/', 3000);
      sent++;
      if (who !== 'A' && who !== 'B') failures.push(who);
    }
  });
  await new Promise((r) => setTimeout(r, 300));
  const sentBefore = sent;
  const [res, again] = await Promise.all([
    vf.admin('/admin/workers/restart', { method: 'POST' }),
    new Promise((r) => setTimeout(r, 50)).then(() => vf.admin('/admin/workers/restart', { method: 'POST' })),
  ]);
  const sentDuring = sent - sentBefore;
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await Promise.all(clients);

  t.equal(res.status, 200);
  t.same(await res.json(), { replaced: 2 });
  t.equal(again.status, 409, 'a second restart while one runs is refused');
  t.equal(((await again.json()) as ErrorBody).error.code, 'VF_ERR_BUSY');
  const unanswered = failures.filter((f) => f === 'error timeout');
  t.same(
    failures.filter((f) => f !== 'error timeout'),
    [],
    `0 refused, reset or non-200 of ${sent} requests on fresh connections (${sentDuring} during the restart)`,
  );
  t.same(unanswered, [], 'no connection left unanswered');
  t.ok(sentDuring > 20, `traffic flowed during the restart (${sentDuring} requests)`);
  await waitFor(() => childPids(vf.process.pid!).length === 2, 5000, 'two workers');
  const newPids = childPids(vf.process.pid!);
  t.equal(newPids.length, 2);
  t.same(newPids.filter((pid) => oldPids.includes(pid)), [], `all worker pids changed (${oldPids} -> ${newPids})`);
  t.same(Object.keys(await traffic(vf, 10)).sort(), ['A', 'B'], 'the new workers serve the config');
});
