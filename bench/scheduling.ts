// `npm run bench:scheduling`: node:cluster scheduling on this Node version, for VeloFlux with 2
// workers. NODE_CLUSTER_SCHED_POLICY=rr (the primary accepts every connection and hands it to a
// worker round-robin; Node's default on Linux) against =none (the workers accept from the shared
// listening socket themselves), under keep-alive load (autocannon) and connection-per-request
// load (connect-per-request.ts), alternating the policies over several rounds. Besides RPS and
// latency it records how connections and requests were spread over the two workers, from
// VeloFlux's admin API. See bench/README.md, "Cluster scheduling".
import { runHarness } from './lifecycle.js';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ChildRegistry, type Child } from './children.js';
import { optionsOrExitCode, parseFlags, wholeNumber } from './flags.js';
import type { LoadResult } from './loadgen.js';
import { Progress } from './progress.js';
import { freePort } from './targets.js';
import { findVelofluxCli, writeVelofluxConfig } from './veloflux.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

const POLICIES = ['rr', 'none'] as const;
type Policy = (typeof POLICIES)[number];
const MODES = ['keep-alive', 'conn-per-request'] as const;
type LoadMode = (typeof MODES)[number];

const WORKERS = 2;
const BODY_BYTES = 100;
/** Workers report their counters every second; wait a bit longer before trusting a snapshot. */
const STATS_SETTLE_MS = 1500;
const SAMPLE_INTERVAL_MS = 1000;
const READY_TIMEOUT_MS = 20_000;
const LOAD_SLACK_MS = 30_000;

const USAGE = `Usage: npm run bench:scheduling -- [flags]

Compares NODE_CLUSTER_SCHED_POLICY=rr and =none for VeloFlux with ${WORKERS} workers, under
keep-alive load and connection-per-request load, ${BODY_BYTES}-byte responses. Nothing is pinned.

  --duration SECONDS   measured seconds per policy, mode and round (default 8)
  --warmup SECONDS     unmeasured load before each measurement (default 1)
  --rounds N           rounds; the policy order alternates each round (default 3)
  --connections N      concurrent connections / request loops (default 50)
  --json               also print the results as JSON on stdout
  --help               this text
`;

interface Options {
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly rounds: number;
  readonly connections: number;
  readonly json: boolean;
}

/** One worker as GET /admin/metrics reports it. */
interface WorkerMetrics {
  readonly id: number;
  readonly pid: number;
  readonly requests: number;
  readonly activeConnections: number;
}

interface RunResult {
  readonly round: number;
  readonly policy: Policy;
  readonly mode: LoadMode;
  readonly load: LoadResult & { connects?: number };
  /** Worker id -> requests VeloFlux counted during the measured window. */
  readonly requestsByWorker: Record<string, number>;
  /** Worker id -> median of activeConnections sampled during the measured window. */
  readonly connectionsByWorker: Record<string, number>;
  /** Every sample: worker id -> activeConnections. */
  readonly connectionSamples: Record<string, number>[];
  /**
   * TCP connections the kernel accepted during the load run (PassiveOpens), and the part of them
   * expected from other programs (the rate seen while idle just before, times the window).
   */
  readonly acceptedConnections: { total: number; background: number; windowMs: number } | null;
  /** Who held VeloFlux's listening socket: "primary", "worker 1", ... */
  readonly listenerHolders: string[] | null;
}

function parseOptions(argv: readonly string[]): Options | 'help' {
  const v = parseFlags(argv, {
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  });
  if (v.help) return 'help';
  return {
    durationSeconds: wholeNumber(v.duration, '--duration', 1),
    warmupSeconds: wholeNumber(v.warmup, '--warmup', 0),
    rounds: wholeNumber(v.rounds, '--rounds', 1),
    connections: wholeNumber(v.connections, '--connections', 1),
    json: v.json,
  };
}

// ---------------------------------------------------------------------------------------------
// VeloFlux under one scheduling policy

interface RunningVeloflux {
  readonly child: Child;
  readonly port: number;
  readonly adminPort: number;
  readonly token: string;
}

async function startVeloflux(policy: Policy, dir: string, originPort: number): Promise<RunningVeloflux> {
  const cli = findVelofluxCli(projectRoot);
  const port = await freePort();
  const adminPort = await freePort();
  const configPath = writeVelofluxConfig({ dir, port, originPort, workers: WORKERS });
  // The shared writer gives the admin API a random port; this harness needs to know it.
  const config = parseYaml(readFileSync(configPath, 'utf8')) as { server: { admin?: Record<string, unknown> } };
  config.server.admin = { ...config.server.admin, port: adminPort, host: '127.0.0.1' };
  writeFileSync(configPath, `# Written by bench/scheduling.ts (admin port set).\n${stringifyYaml(config)}`);

  const token = randomBytes(24).toString('hex');
  // The primary reads NODE_CLUSTER_SCHED_POLICY when it loads node:cluster; `env` execs node, so
  // the child's pid is the primary's.
  const child = children.spawn({
    name: `veloflux (${policy})`,
    command: 'env',
    args: [`NODE_CLUSTER_SCHED_POLICY=${policy}`, `VELOFLUX_ADMIN_TOKEN=${token}`, process.execPath, cli, '--config', configPath],
    cwd: projectRoot,
  });
  const vf = { child, port, adminPort, token };
  try {
    await waitUntilReady(vf);
  } catch (err) {
    await children.stop(child);
    throw err;
  }
  return vf;
}

/** Both workers ready, a request forwarded to the origin, and stats reported by both workers. */
async function waitUntilReady(vf: RunningVeloflux): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (vf.child.hasExited) throw vf.child.failure('exited during start-up');
    try {
      const workers = await fetchWorkers(vf);
      const ready = workers.filter((w) => w.ready);
      if (ready.length < WORKERS) {
        last = `${ready.length}/${WORKERS} workers ready`;
      } else {
        // Not fetch(): its pooled keep-alive connection would stay open on a worker and count.
        const status = await probe(`http://127.0.0.1:${vf.port}/${BODY_BYTES}`);
        if (status === 200 && workers.every((w) => w.uptimeSeconds >= 2)) return;
        last = status === 200 ? 'waiting for the first stats reports' : `proxy answered HTTP ${status}`;
      }
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(200);
  }
  throw vf.child.failure(`not ready within ${READY_TIMEOUT_MS / 1000} s (last: ${last})`);
}

function probe(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error('probe timed out')));
    req.once('error', reject);
  });
}

async function fetchWorkers(vf: RunningVeloflux): Promise<(WorkerMetrics & { ready: boolean; uptimeSeconds: number })[]> {
  const res = await fetch(`http://127.0.0.1:${vf.adminPort}/admin/metrics`, {
    headers: { authorization: `Bearer ${vf.token}` },
    signal: AbortSignal.timeout(3000),
  });
  if (res.status !== 200) throw new Error(`GET /admin/metrics: HTTP ${res.status}`);
  const body = (await res.json()) as { workers?: unknown };
  if (!Array.isArray(body.workers)) throw new Error('GET /admin/metrics: no workers array');
  return body.workers as (WorkerMetrics & { ready: boolean; uptimeSeconds: number })[];
}

// ---------------------------------------------------------------------------------------------
// Kernel-side checks with `ss` (iproute2): who holds the listening socket, how many connections

function haveSs(): boolean {
  const r = spawnSync('ss', ['-V'], { encoding: 'utf8' });
  return r.error === undefined && r.status === 0;
}

/** Pids of the processes holding a listening TCP socket on `port`. */
function listenerPids(port: number): number[] | null {
  const r = spawnSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) return null;
  return [...new Set([...r.stdout.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))];
}

/**
 * The kernel's count of accepted TCP connections (Tcp PassiveOpens in /proc/net/snmp). It covers
 * the whole network namespace, so other programs on the machine add to it; null off Linux.
 */
function passiveOpens(): number | null {
  let snmp: string;
  try {
    snmp = readFileSync('/proc/net/snmp', 'utf8');
  } catch {
    return null;
  }
  const [names, values] = snmp.split('\n').filter((l) => l.startsWith('Tcp:'));
  if (names === undefined || values === undefined) return null;
  const index = names.split(/\s+/).indexOf('PassiveOpens');
  const value = Number(values.split(/\s+/)[index]);
  return index < 0 || !Number.isFinite(value) ? null : value;
}

// ---------------------------------------------------------------------------------------------
// Load

/** Runs one load-generator child to completion; `onMeasuring` fires when its window opens. */
async function runLoad(mode: LoadMode, url: string, connections: number, seconds: number, onMeasuring: () => void): Promise<LoadResult & { connects?: number }> {
  const script = mode === 'keep-alive' ? 'loadgen-worker.js' : 'connect-per-request.js';
  const child = children.spawn({
    name: `load generator (${mode})`,
    command: process.execPath,
    args: [join(projectRoot, 'dist', 'bench', script), '--url', url, '--connections', String(connections), '--duration', String(seconds)],
  });
  try {
    return await child.waitForJsonLine((msg) => {
      if (msg['event'] === 'measuring') onMeasuring();
      return msg['event'] === 'result' ? (msg['result'] as LoadResult) : undefined;
    }, seconds * 1000 + LOAD_SLACK_MS);
  } finally {
    await children.stop(child);
  }
}

async function measureMode(vf: RunningVeloflux, round: number, policy: Policy, mode: LoadMode, options: Options, step: () => void): Promise<RunResult> {
  const url = `http://127.0.0.1:${vf.port}/${BODY_BYTES}`;
  if (options.warmupSeconds > 0) await runLoad(mode, url, options.connections, options.warmupSeconds, () => {});
  // The settle pause doubles as a sample of the machine's background rate of accepted connections.
  const idleOpens = passiveOpens();
  const idleSince = performance.now();
  await sleep(STATS_SETTLE_MS);
  const before = await fetchWorkers(vf);
  const opensBefore = passiveOpens();
  const opensBeforeAt = performance.now();
  const backgroundPerMs = idleOpens === null || opensBefore === null ? 0 : (opensBefore - idleOpens) / (opensBeforeAt - idleSince);

  const samples: Record<string, number>[] = [];
  let sampler: NodeJS.Timeout | undefined;
  let measuringSince = 0;
  const load = await runLoad(mode, url, options.connections, options.durationSeconds, () => {
    step();
    measuringSince = Date.now();
    sampler = setInterval(() => {
      // A report can be up to 1 s old: skip the first second, when it may predate the load.
      if (Date.now() - measuringSince < STATS_SETTLE_MS) return;
      fetchWorkers(vf).then(
        (workers) => {
          if (Date.now() - measuringSince <= options.durationSeconds * 1000) {
            samples.push(Object.fromEntries(workers.map((w) => [String(w.id), w.activeConnections])));
          }
        },
        () => {},
      );
    }, SAMPLE_INTERVAL_MS);
  }).finally(() => clearInterval(sampler));

  const opensAfter = passiveOpens();
  const windowMs = performance.now() - opensBeforeAt;
  await sleep(STATS_SETTLE_MS);
  const after = await fetchWorkers(vf);
  const requestsByWorker: Record<string, number> = {};
  for (const w of after) requestsByWorker[String(w.id)] = w.requests - (before.find((b) => b.id === w.id)?.requests ?? 0);
  const ids = Object.keys(requestsByWorker);
  const connectionsByWorker: Record<string, number> = {};
  for (const id of ids) connectionsByWorker[id] = median(samples.map((s) => s[id] ?? 0));

  const holders = listenerPids(vf.port);
  return {
    round,
    policy,
    mode,
    load,
    requestsByWorker,
    connectionsByWorker,
    connectionSamples: samples,
    acceptedConnections:
      opensBefore === null || opensAfter === null
        ? null
        : { total: opensAfter - opensBefore, background: Math.round(backgroundPerMs * windowMs), windowMs: Math.round(windowMs) },
    listenerHolders:
      holders === null
        ? null
        : holders.map((pid) => (pid === vf.child.pid ? 'primary' : `worker ${after.find((w) => w.pid === pid)?.id ?? `pid ${pid}`}`)).sort(),
  };
}

// ---------------------------------------------------------------------------------------------
// Report

interface SummaryRow {
  readonly policy: Policy;
  readonly mode: LoadMode;
  readonly rounds: number;
  readonly rpsMean: number;
  readonly rpsMin: number;
  readonly rpsMax: number;
  readonly p50MsMean: number;
  readonly p99MsMean: number;
  readonly errors: number;
  /** Per round, e.g. "25/25". */
  readonly connectionSplits: string[];
  /** Per round, percent of VeloFlux's requests served by each worker, e.g. "52/48". */
  readonly requestSplits: string[];
  /** Mean over rounds of the busiest worker's share of requests, percent. */
  readonly busiestWorkerSharePct: number;
  /** Connections the kernel accepted per request, background subtracted, mean over rounds; null off Linux. */
  readonly connectionsPerRequest: number | null;
  readonly listenerHolders: string | null;
}

function summarize(results: readonly RunResult[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const mode of MODES) {
    for (const policy of POLICIES) {
      const runs = results.filter((r) => r.policy === policy && r.mode === mode).sort((a, b) => a.round - b.round);
      if (runs.length === 0) continue;
      const rps = runs.map((r) => r.load.rps);
      const shares = runs.map((r) => shareOf(r.requestsByWorker));
      const perRequest = runs.map((r) =>
        r.acceptedConnections === null || r.load.requests === 0
          ? null
          : Math.max(0, r.acceptedConnections.total - r.acceptedConnections.background) / r.load.requests,
      );
      const holders = [...new Set(runs.map((r) => r.listenerHolders?.join('+') ?? null))];
      rows.push({
        policy,
        mode,
        rounds: runs.length,
        rpsMean: mean(rps),
        rpsMin: Math.min(...rps),
        rpsMax: Math.max(...rps),
        p50MsMean: mean(runs.map((r) => r.load.p50Ms)),
        p99MsMean: mean(runs.map((r) => r.load.p99Ms)),
        errors: sum(runs.map((r) => r.load.errors + r.load.timeouts + r.load.non2xx)),
        connectionSplits: runs.map((r) => split(r.connectionsByWorker, (n) => String(Math.round(n)))),
        requestSplits: shares.map((s) => s.map((p) => Math.round(p)).join('/')),
        busiestWorkerSharePct: mean(shares.map((s) => Math.max(...s))),
        connectionsPerRequest: perRequest.includes(null) ? null : mean(perRequest as number[]),
        listenerHolders: holders.length === 1 ? holders[0]! : holders.map((h) => h ?? '?').join(' | '),
      });
    }
  }
  return rows;
}

/** Percent of the total per worker, ordered by worker id. */
function shareOf(byWorker: Record<string, number>): number[] {
  const values = orderedValues(byWorker);
  const total = sum(values);
  return values.map((v) => (total === 0 ? 0 : (100 * v) / total));
}

function split(byWorker: Record<string, number>, format: (n: number) => string): string {
  return orderedValues(byWorker).map(format).join('/');
}

function orderedValues(byWorker: Record<string, number>): number[] {
  return Object.keys(byWorker)
    .sort((a, b) => Number(a) - Number(b))
    .map((id) => byWorker[id]!);
}

function formatTable(rows: readonly SummaryRow[], options: Options, info: { cpus: number; failures: string[] }): string {
  const header = [
    'policy',
    'mode',
    'RPS mean',
    'RPS min-max',
    'p50 ms',
    'p99 ms',
    'errors',
    'conns/worker (per round)',
    'req % per worker (per round)',
    'busiest',
    'conns/req',
  ];
  const body = rows.map((r) => [
    r.policy,
    r.mode,
    fmtInt(r.rpsMean),
    `${fmtInt(r.rpsMin)}-${fmtInt(r.rpsMax)}`,
    r.p50MsMean.toFixed(2),
    r.p99MsMean.toFixed(2),
    String(r.errors),
    r.connectionSplits.join(' '),
    r.requestSplits.join(' '),
    `${r.busiestWorkerSharePct.toFixed(0)}%`,
    r.connectionsPerRequest === null ? 'n/a' : r.connectionsPerRequest.toFixed(r.connectionsPerRequest < 0.01 ? 4 : 2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 || i >= 7 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const out: string[] = [];
  out.push(
    `node:cluster scheduling, VeloFlux with ${WORKERS} workers: Node ${process.version}, ${info.cpus} CPUs, ` +
      `${options.rounds} round(s) x ${options.durationSeconds} s (+${options.warmupSeconds} s warm-up), ` +
      `${options.connections} connections, ${BODY_BYTES}-byte responses`,
  );
  out.push(
    `Nothing is pinned: the VeloFlux primary and both workers, the origin and the load generator share all ${info.cpus} CPUs ` +
      '(2 workers need both cores), so the load generator and origin compete with the proxy.',
  );
  out.push('');
  out.push(line(header));
  out.push(line(header.map((_, i) => '-'.repeat(widths[i]!))));
  for (const row of body) out.push(line(row));
  out.push('');
  for (const mode of MODES) {
    const rr = rows.find((r) => r.policy === 'rr' && r.mode === mode);
    const none = rows.find((r) => r.policy === 'none' && r.mode === mode);
    if (rr !== undefined && none !== undefined && rr.rpsMean > 0) {
      out.push(`${mode}: none/rr RPS ${(none.rpsMean / rr.rpsMean).toFixed(2)}, p99 none/rr ${(none.p99MsMean / rr.p99MsMean).toFixed(2)}`);
    }
  }
  for (const policy of POLICIES) {
    const holders = rows.find((r) => r.policy === policy)?.listenerHolders;
    if (holders !== undefined) out.push(`listening socket held by (${policy}): ${holders ?? 'n/a (ss not found)'}`);
  }
  out.push(
    'keep-alive: autocannon, connections opened once; conns/worker = median of activeConnections sampled each second.',
    'conn-per-request: a new TCP connection per request (Connection: close), latency from connect() to the last byte;',
    '  conns/worker there is just the connections open at each sample.',
    "conns/req: TCP connections the kernel accepted during the run (/proc/net/snmp PassiveOpens, machine-wide, minus the",
    '  rate seen just before while idle) per request: ~1 means a new connection per request, ~0 means keep-alive.',
    'req % per worker: diff of each worker\'s `requests` in GET /admin/metrics over the window; busiest: mean share of the busier worker.',
    'errors: connection errors + timeouts + non-2xx over all rounds. This machine is shared: compare within one run only.',
  );
  for (const f of info.failures) out.push(`FAILED: ${f}`);
  return out.join('\n');
}

const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: readonly number[]) => (xs.length === 0 ? Number.NaN : sum(xs) / xs.length);

function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------------------------------------
// Main

const children = new ChildRegistry();
let tmpDir: string | undefined;


/** `interrupted()` turns true at the first Ctrl-C / SIGTERM: the run is being torn down, stop measuring. */
async function main(interrupted: () => boolean): Promise<number> {
  const options = optionsOrExitCode('bench:scheduling', USAGE, parseOptions);
  if ('exitCode' in options) return options.exitCode;
  const cpus = availableParallelism();
  findVelofluxCli(projectRoot); // fail before starting anything when the build is missing
  if (!haveSs()) process.stderr.write('bench:scheduling: `ss` (iproute2) not found: no listener / connection-count checks\n');

  tmpDir = mkdtempSync(join(tmpdir(), 'veloflux-sched-'));
  const origin = children.spawn({
    name: 'origin',
    command: process.execPath,
    args: [join(projectRoot, 'dist', 'bench', 'upstream.js'), '--sizes', String(BODY_BYTES)],
  });
  const originPort = await origin.waitForJsonLine((m) => (typeof m['port'] === 'number' ? m['port'] : undefined), 10_000);

  const stepSeconds = options.warmupSeconds + options.durationSeconds + 2 * (STATS_SETTLE_MS / 1000) + 1.5;
  const count = options.rounds * POLICIES.length * MODES.length;
  const progress = new Progress(stepSeconds);
  const results: RunResult[] = [];
  const failures: string[] = [];
  let index = 0;
  for (let round = 1; round <= options.rounds; round++) {
    // rr first in odd rounds, none first in even ones: drift on the machine hits both alike.
    const order = round % 2 === 1 ? POLICIES : [...POLICIES].reverse();
    for (const policy of order) {
      const label = (mode: string) => `round ${round}/${options.rounds} ${policy} ${mode}`;
      progress.update({ index: index + 1, count, label: `round ${round}/${options.rounds} ${policy}` }, 'starting VeloFlux', 0, stepSeconds * MODES.length);
      let vf: RunningVeloflux;
      try {
        vf = await startVeloflux(policy, join(tmpDir, `veloflux-${round}-${policy}`), originPort);
      } catch (err) {
        if (interrupted()) return 130;
        const message = `round ${round} ${policy}: VeloFlux failed to start: ${(err as Error).message}`;
        progress.note(`bench:scheduling: ${message}`);
        failures.push(message);
        index += MODES.length;
        continue;
      }
      for (const mode of MODES) {
        index += 1;
        const step = { index, count, label: label(mode) };
        progress.update(step, 'warming up', options.warmupSeconds, stepSeconds);
        try {
          results.push(
            await measureMode(vf, round, policy, mode, options, () =>
              progress.update(step, 'measuring', options.durationSeconds, stepSeconds - options.warmupSeconds - STATS_SETTLE_MS / 1000),
            ),
          );
        } catch (err) {
          if (interrupted()) return 130;
          const message = `round ${round} ${policy} ${mode}: ${(err as Error).message}`;
          progress.note(`bench:scheduling: ${message}`);
          failures.push(message);
        }
      }
      await children.stop(vf.child);
    }
  }
  progress.stop();
  await children.stopAll();

  const rows = summarize(results);
  process.stdout.write(`${formatTable(rows, options, { cpus, failures })}\n`);
  if (options.json) {
    const json = { node: process.version, cpus, pinned: false, workers: WORKERS, bodyBytes: BODY_BYTES, options, summary: rows, runs: results, failures };
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  }
  return failures.length > 0 ? 1 : 0;
}

// Children live in their own process groups (children.ts): reap them on every way out.
runHarness({ name: 'bench:scheduling', children, tmpDir: () => tmpDir, main: (isInterrupted) => main(isInterrupted) });
