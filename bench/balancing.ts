// `npm run bench:balancing`: how the balancing algorithms cope with degraded backends (issue 18).
// Eight loopback backends with a fixed number of service slots each (balancing-backends.ts), a
// real VeloFlux (one worker) in front, and open-loop load at a fixed share of the backends'
// capacity (open-loop.ts). Each scenario is run once per algorithm, each algorithm in a VeloFlux
// of its own; the table gives p50 / p99 / p99.9 from when each request was due, the error rate,
// and the share of requests that went to a degraded backend. See bench/README.md, "Balancing".
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { ChildRegistry, type Child } from './children.js';
import { list, optionsOrExitCode, OptionsError, parseFlags, wholeNumber } from './flags.js';
import { runHarness } from './lifecycle.js';
import { openLoop, type OpenLoopResult } from './open-loop.js';
import { Progress } from './progress.js';
import { findVelofluxCli } from './veloflux.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

const POLICIES = ['round_robin', 'least_conn', 'p2c', 'adaptive'] as const;
const SCENARIOS = ['slow-1', 'capped-2', 'moving', 'equal'] as const;
type Scenario = (typeof SCENARIOS)[number];

/** What the backends process is told: these backends degraded, the others normal. */
interface Degradation {
  readonly indexes: readonly number[];
  readonly extraMs: number;
  readonly serviceFactor: number;
}

const MOVE_EVERY_MS = 10_000;
const READY_TIMEOUT_MS = 20_000;

const USAGE = `Usage: npm run bench:balancing -- [flags]

Runs each scenario against a real VeloFlux (1 worker) once per algorithm, with open-loop load.
Scenarios: slow-1 (one backend answers --slow-ms later), capped-2 (two backends take 4x longer
per request in their slots, so they queue), moving (the slow-1 backend moves to the next one
every 10 s), equal (all backends alike).

  --duration SECONDS     measured seconds per run (default 20; moving runs at least 30)
  --warmup SECONDS       unmeasured load before each measurement (default 5)
  --load PERCENT         offered rate as a share of the healthy backends' capacity (default 70)
  --backends N           backends (default 8)
  --concurrency N        service slots per backend (default 4)
  --service-ms MS        mean service time per request (default 20)
  --slow-ms MS           extra latency of a slow backend (default 50)
  --adaptive-decay D     adaptive's decay (τ), a duration like 10s or 500ms (default: the pool default, 10s)
  --rounds N             repeat every run N times, policies in a rotated order each round;
                         the table gives medians and every round's p99 (default 1)
  --policies LIST        default ${POLICIES.join(',')}
  --scenarios LIST       default ${SCENARIOS.join(',')}
  --json                 also print the results as JSON on stdout
  --help                 this text
`;

interface Options {
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly loadPercent: number;
  readonly backends: number;
  readonly concurrency: number;
  readonly serviceMs: number;
  readonly slowMs: number;
  readonly adaptiveDecay: string | undefined;
  readonly rounds: number;
  readonly policies: readonly string[];
  readonly scenarios: readonly Scenario[];
  readonly json: boolean;
}

function parseOptions(argv: readonly string[]): Options | 'help' {
  const v = parseFlags(argv, {
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    load: { type: 'string', default: '70' },
    backends: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '4' },
    'service-ms': { type: 'string', default: '20' },
    'slow-ms': { type: 'string', default: '50' },
    'adaptive-decay': { type: 'string' },
    rounds: { type: 'string', default: '1' },
    policies: { type: 'string', default: POLICIES.join(',') },
    scenarios: { type: 'string', default: SCENARIOS.join(',') },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  });
  if (v.help) return 'help';
  const scenarios = list(v.scenarios, '--scenarios');
  for (const s of scenarios) if (!(SCENARIOS as readonly string[]).includes(s)) throw new OptionsError(`--scenarios: unknown "${s}"`);
  return {
    durationSeconds: wholeNumber(v.duration, '--duration', 1),
    warmupSeconds: wholeNumber(v.warmup, '--warmup', 0),
    loadPercent: wholeNumber(v.load, '--load', 1),
    backends: wholeNumber(v.backends, '--backends', 3),
    concurrency: wholeNumber(v.concurrency, '--concurrency', 1),
    serviceMs: wholeNumber(v['service-ms'], '--service-ms', 1),
    slowMs: wholeNumber(v['slow-ms'], '--slow-ms', 1),
    adaptiveDecay: v['adaptive-decay'],
    rounds: wholeNumber(v.rounds, '--rounds', 1),
    policies: list(v.policies, '--policies'),
    scenarios: scenarios as Scenario[],
    json: v.json,
  };
}

/** The degradation of `scenario` at `elapsedMs` into a run. */
function degradationAt(scenario: Scenario, elapsedMs: number, options: Options): Degradation {
  switch (scenario) {
    case 'equal':
      return { indexes: [], extraMs: 0, serviceFactor: 1 };
    case 'slow-1':
      return { indexes: [0], extraMs: options.slowMs, serviceFactor: 1 };
    case 'capped-2':
      return { indexes: [0, 1], extraMs: 0, serviceFactor: 4 };
    case 'moving':
      return { indexes: [Math.floor(elapsedMs / MOVE_EVERY_MS) % options.backends], extraMs: options.slowMs, serviceFactor: 1 };
  }
}

/** Requests per second the backends can serve under `degradation`. */
function capacity(options: Options, degradation: Degradation): number {
  let perSecond = 0;
  for (let i = 0; i < options.backends; i++) {
    const factor = degradation.indexes.includes(i) ? degradation.serviceFactor : 1;
    perSecond += (options.concurrency * 1000) / (options.serviceMs * factor);
  }
  return perSecond;
}

interface Row {
  readonly scenario: Scenario;
  readonly policy: string;
  readonly offered: number;
  /** Offered rate over the degraded capacity. */
  readonly utilisation: number;
  readonly load: OpenLoopResult;
  /** Share of the measured requests the backends accepted while degraded. */
  readonly degradedShare: number;
}

// Control of the backends process.

function control(port: number, method: string, path: string, body?: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => (res.statusCode! < 300 ? resolve(text) : reject(new Error(`backends control ${method} ${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function startVeloflux(dir: string, policy: string, backendPorts: readonly number[], adaptiveDecay: string | undefined): Promise<{ child: Child; port: number }> {
  mkdirSync(join(dir, 'data'), { recursive: true });
  const config = {
    server: { workers: 1, http: { port: 0, host: '127.0.0.1' }, api: { port: 0 }, admin: { port: 0 }, metrics: { port: 0 }, dashboard: { port: 0 }, dataDir: join(dir, 'data') },
    // No retries, health checks or outlier detection: the algorithm alone decides where requests go.
    pools: [{ name: 'bench', algorithm: policy, retries: 0, ...(adaptiveDecay === undefined ? {} : { adaptive: { decay: adaptiveDecay } }), backends: backendPorts.map((port, i) => ({ id: `b${i}`, url: `http://127.0.0.1:${port}` })) }],
    routes: [{ host: '*', path: '/', pool: 'bench' }],
  };
  const configPath = join(dir, 'veloflux.yaml');
  writeFileSync(configPath, `# Written by bench/balancing.ts for one run.\n${stringify(config)}`);
  const child = children.spawn({
    name: `veloflux (${policy})`,
    command: 'env',
    args: [`VELOFLUX_ADMIN_TOKEN=bench-${process.pid}-0123456789abcdef`, process.execPath, findVelofluxCli(projectRoot), '--config', configPath],
    cwd: projectRoot,
  });
  const port = await child.waitForJsonLine((m) => (m['msg'] === 'veloflux ready' ? (m['http'] as { port: number }).port : undefined), READY_TIMEOUT_MS);
  return { child, port };
}

async function runOne(scenario: Scenario, policy: string, options: Options, backends: { ports: number[]; control: number }, dir: string): Promise<Row> {
  const seconds = scenario === 'moving' ? Math.max(options.durationSeconds, 30) : options.durationSeconds;
  const rate = Math.round((capacity(options, degradationAt('equal', 0, options)) * options.loadPercent) / 100);
  await control(backends.control, 'PUT', '/degraded', degradationAt(scenario, 0, options));
  const vf = await startVeloflux(dir, policy, backends.ports, options.adaptiveDecay);
  const started = performance.now();
  let current = JSON.stringify(degradationAt(scenario, 0, options));
  // Moves the slow backend on time, and resets the counts when the measurement starts.
  const ticker = setInterval(() => {
    const next = JSON.stringify(degradationAt(scenario, performance.now() - started, options));
    if (next !== current) {
      current = next;
      void control(backends.control, 'PUT', '/degraded', JSON.parse(next));
    }
  }, 100);
  const reset = setTimeout(() => void control(backends.control, 'POST', '/reset'), options.warmupSeconds * 1000);
  try {
    const load = await openLoop({ port: vf.port, path: '/', ratePerSecond: rate, warmupSeconds: options.warmupSeconds, seconds, timeoutMs: 10_000 });
    const counts = JSON.parse(await control(backends.control, 'GET', '/counts')) as { accepted: number; acceptedDegraded: number };
    return {
      scenario,
      policy,
      offered: rate,
      utilisation: rate / capacity(options, degradationAt(scenario, 0, options)),
      load,
      degradedShare: counts.accepted === 0 ? 0 : counts.acceptedDegraded / counts.accepted,
    };
  } finally {
    clearInterval(ticker);
    clearTimeout(reset);
    await children.stop(vf.child);
  }
}

/** The median of a few numbers (the middle one, or the mean of the middle two). */
function middle(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const half = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[half]! : (sorted[half - 1]! + sorted[half]!) / 2;
}

interface Summary {
  readonly scenario: Scenario;
  readonly policy: string;
  readonly runs: readonly Row[];
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
}

function summarize(rows: readonly Row[], options: Options): Summary[] {
  return options.scenarios.flatMap((scenario) =>
    options.policies.map((policy) => {
      const runs = rows.filter((r) => r.scenario === scenario && r.policy === policy);
      const of = (p: number) => middle(runs.map((r) => r.load.latency.percentile(p)));
      return { scenario, policy, runs, p50: of(50), p99: of(99), p999: of(99.9) };
    }),
  ).filter((s) => s.runs.length > 0);
}

function formatTable(summaries: readonly Summary[], options: Options): string {
  const rounds = options.rounds > 1;
  const header = ['scenario', 'policy', 'offered/s', 'util', 'ok/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors', 'to degraded', ...(rounds ? ['p99 per round'] : [])];
  const lines = summaries.map((s) => {
    const sent = s.runs.reduce((a, r) => a + r.load.sent, 0);
    const errors = s.runs.reduce((a, r) => a + r.load.errors, 0);
    const first = s.runs[0]!;
    return [
      s.scenario,
      s.policy,
      String(first.offered),
      `${Math.round(first.utilisation * 100)}%`,
      middle(s.runs.map((r) => r.load.okPerSecond)).toFixed(0),
      s.p50.toFixed(1),
      s.p99.toFixed(1),
      s.p999.toFixed(1),
      `${((errors / sent) * 100).toFixed(2)}%`,
      s.scenario === 'equal' ? '-' : `${(middle(s.runs.map((r) => r.degradedShare)) * 100).toFixed(1)}%`,
      ...(rounds ? [s.runs.map((r) => r.load.latency.percentile(99).toFixed(0)).join(' ')] : []),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: readonly string[]) => cells.map((c, i) => (i < 2 || i === 10 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [
    `${options.backends} backends x ${options.concurrency} slots, service ${options.serviceMs} ms mean (uniform 0.5-1.5x); slow = +${options.slowMs} ms; capped = 4x service time`,
    `offered ${options.loadPercent}% of healthy capacity, open loop, latency from when each request was due; util = offered / the scenario's capacity`,
    `${options.rounds} round(s) of ${options.durationSeconds} s (moving: ${Math.max(options.durationSeconds, 30)} s) after ${options.warmupSeconds} s warm-up; latencies are medians over rounds`,
    '',
    format(header),
    format(widths.map((w) => '-'.repeat(w))),
    ...lines.map(format),
    '',
  ];
  for (const scenario of options.scenarios) {
    const p99 = (policy: string) => summaries.find((s) => s.scenario === scenario && s.policy === policy)?.p99;
    const adaptive = p99('adaptive');
    if (adaptive === undefined) continue;
    const versus = ['round_robin', 'least_conn']
      .map((other) => [other, p99(other)] as const)
      .filter(([, v]) => v !== undefined)
      .map(([other, v]) => `${adaptive / v! - 1 >= 0 ? '+' : ''}${((adaptive / v! - 1) * 100).toFixed(0)}% vs ${other}`);
    out.push(`${scenario}: adaptive p99 ${versus.join(', ')}`);
  }
  return out.join('\n');
}

const children = new ChildRegistry();
let tmpDir: string | undefined;

async function main(interrupted: () => boolean): Promise<number> {
  const options = optionsOrExitCode('bench:balancing', USAGE, parseOptions);
  if ('exitCode' in options) return options.exitCode;
  findVelofluxCli(projectRoot);
  tmpDir = mkdtempSync(join(tmpdir(), 'veloflux-balancing-'));
  const backendsChild = children.spawn({
    name: 'backends',
    command: process.execPath,
    args: [join(projectRoot, 'dist', 'bench', 'balancing-backends.js'), '--count', String(options.backends), '--concurrency', String(options.concurrency), '--service-ms', String(options.serviceMs)],
  });
  const backends = await backendsChild.waitForJsonLine((m) => (Array.isArray(m['ports']) ? (m as { ports: number[]; control: number }) : undefined), 10_000);
  // Each round rotates the policy order, so drift on the machine does not always hit the same one.
  const runs = Array.from({ length: options.rounds }, (_, round) =>
    options.scenarios.flatMap((scenario) => options.policies.map((_, i) => ({ scenario, policy: options.policies[(i + round) % options.policies.length]! }))),
  ).flat();
  const stepSeconds = options.warmupSeconds + options.durationSeconds + 3;
  const progress = new Progress(stepSeconds);
  const rows: Row[] = [];
  for (const [index, { scenario, policy }] of runs.entries()) {
    progress.update({ index: index + 1, count: runs.length, label: `${scenario} ${policy}` }, 'running', stepSeconds, stepSeconds);
    try {
      rows.push(await runOne(scenario, policy, options, backends, join(tmpDir, `${scenario}-${policy}`)));
    } catch (err) {
      if (interrupted()) return 130;
      throw err;
    }
  }
  progress.stop();
  await children.stopAll();
  process.stdout.write(`${formatTable(summarize(rows, options), options)}\n`);
  if (options.json) {
    const json = rows.map((r) => ({ ...r, load: { ...r.load, latency: { p50: r.load.latency.percentile(50), p99: r.load.latency.percentile(99), p999: r.load.latency.percentile(99.9) } } }));
    process.stdout.write(`${JSON.stringify({ node: process.version, options, rows: json }, null, 2)}\n`);
  }
  // Errors are results here (round_robin overloading a capped backend is the point): exit 0.
  return 0;
}

runHarness({ name: 'bench:balancing', children, tmpDir: () => tmpDir, main: (isInterrupted) => main(isInterrupted) });
