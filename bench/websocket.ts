// `npm run bench:websocket`: WebSocket echo throughput (messages per second, small messages,
// N concurrent clients) straight to a `ws` echo server, through VeloFlux and through nginx (when
// installed), one target after another against the same origin, and one table with ratios.
//
// One file, three roles, each its own process so it can be pinned like bench/run.ts does:
// the harness (default), `--role origin` (the echo server) and `--role client` (the load).
import { runHarness } from './lifecycle.js';
import { setUpMode } from './pinning.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { ChildRegistry, type Child } from './children.js';
import { comparisonFlags, parseFlags, wholeNumber } from './flags.js';
import { LatencyHistogram } from './latency-histogram.js';
import { findNginx, writeNginxConfig } from './nginx.js';
import { LOAD_CPU, PROXY_CPU } from './options.js';
import { freePort, startTarget, type TargetContext } from './targets.js';

const TARGETS = ['direct', 'veloflux', 'nginx'] as const;
type Target = (typeof TARGETS)[number];

const USAGE = `Usage: npm run bench:websocket -- [flags]

  --clients N            concurrent WebSocket clients (default 50)
  --size BYTES           message size (default 32)
  --pipeline N           messages in flight per client (default 1: send, wait for the echo, repeat)
  --duration SECONDS     measured seconds per target (default 10)
  --warmup SECONDS       unmeasured load before each measurement (default 2)
  --targets LIST         any of ${TARGETS.join(',')} (default all; nginx only if installed)
  --mode per-core|all    per-core: the proxy alone on CPU ${PROXY_CPU}, origin + clients on CPU ${LOAD_CPU};
                         all: nothing pinned, proxies use every core (default per-core)
  --json                 also print the results as JSON on stdout
`;

const flags = parseFlags(process.argv.slice(2), {
  role: { type: 'string', default: 'harness' },
  url: { type: 'string' },
  clients: { type: 'string', default: '50' },
  size: { type: 'string', default: '32' },
  pipeline: { type: 'string', default: '1' },
  ...comparisonFlags(TARGETS),
});

function emit(msg: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

// ---- origin: echoes every message back as it came; plain GET / answers 200 for readiness probes.

function runOrigin(): void {
  const server = createServer((_req, res) => res.end('ok'));
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary })));
  server.listen(0, '127.0.0.1', () => emit({ port: (server.address() as { port: number }).port }));
  process.once('SIGTERM', () => process.exit(0));
}

// ---- client: N sockets in a closed loop; prints {"event":"warmup"|"measuring"} then the result.

interface ClientResult {
  messagesPerSecond: number;
  messages: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

async function runClients(): Promise<void> {
  const url = flags.url;
  if (url === undefined) throw new Error('--role client needs --url');
  const clients = wholeNumber(flags.clients, '--clients', 1);
  const pipeline = wholeNumber(flags.pipeline, '--pipeline', 1);
  const warmupMs = wholeNumber(flags.warmup, '--warmup', 0) * 1000;
  const durationMs = wholeNumber(flags.duration, '--duration', 1) * 1000;
  // Binary, so the origin spends nothing on UTF-8 checks: its CPU is shared with the clients.
  const payload = Buffer.alloc(wholeNumber(flags.size, '--size', 1), 'x');
  const histogram = new LatencyHistogram();
  let measuring = false;
  let running = true;
  let messages = 0;
  let errors = 0;

  const sockets = await Promise.all(
    Array.from({ length: clients }, () =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(url, { perMessageDeflate: false });
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      }),
    ),
  );
  for (const ws of sockets) {
    // Echoes come back in order, so the oldest send time belongs to each echo.
    const sentAt: number[] = [];
    ws.on('error', () => errors++);
    ws.on('message', () => {
      const now = performance.now();
      const started = sentAt.shift()!;
      if (measuring) {
        messages++;
        histogram.record(now - started);
      }
      if (!running) return;
      sentAt.push(now);
      ws.send(payload);
    });
    for (let i = 0; i < pipeline; i++) {
      sentAt.push(performance.now());
      ws.send(payload);
    }
  }
  if (warmupMs > 0) {
    emit({ event: 'warmup' });
    await sleep(warmupMs);
  }
  emit({ event: 'measuring' });
  measuring = true;
  const startedAt = performance.now();
  await sleep(durationMs);
  measuring = false;
  running = false;
  const elapsedSeconds = (performance.now() - startedAt) / 1000;
  const result: ClientResult = {
    messagesPerSecond: messages / elapsedSeconds,
    messages,
    p50Ms: histogram.percentile(50),
    p99Ms: histogram.percentile(99),
    errors,
  };
  emit({ event: 'result', result });
  for (const ws of sockets) ws.terminate();
  process.exit(0);
}

// ---- harness

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const self = join(projectRoot, 'dist', 'bench', 'websocket.js');
const children = new ChildRegistry();
let tmpDir: string | undefined;
const READY_TIMEOUT_MS = 15_000;
/** CPU 1 busier than this during "direct" (no proxy on it) means something else runs there. */
const FOREIGN_BUSY_WARN = 15;

interface Row {
  target: Target;
  result?: ClientResult & { cpuBusy: number[] };
  error?: string;
}

async function runHarnessMain(): Promise<number> {
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { mode, targets, loadCpu, proxyCpu } = setUpMode(flags.mode, flags.targets, TARGETS);
  const pinned = mode === 'per-core';
  const durationSeconds = wholeNumber(flags.duration, '--duration', 1);
  const warmupSeconds = wholeNumber(flags.warmup, '--warmup', 0);

  tmpDir = mkdtempSync(join(tmpdir(), 'veloflux-bench-ws-'));
  const origin = children.spawn({ name: 'ws origin', command: process.execPath, args: [self, '--role', 'origin'], cpu: loadCpu });
  const originPort = await origin.waitForJsonLine((m) => (typeof m['port'] === 'number' ? m['port'] : undefined), 10_000);
  const ctx: TargetContext = {
    children,
    projectRoot,
    tmpDir,
    originUrl: `http://127.0.0.1:${originPort}`,
    originPort,
    mode,
    proxyCpu,
    probePath: '/',
  };

  const rows: Row[] = [];
  for (const target of targets) {
    if (target === 'nginx' && findNginx() === undefined) {
      process.stderr.write('bench: skipping nginx: binary not found (apt-get install -y nginx)\n');
      continue;
    }
    process.stderr.write(`bench: ${target}: starting, ${warmupSeconds} s warm-up + ${durationSeconds} s measured\n`);
    let stop: () => Promise<void> = async () => {};
    try {
      let url = `ws://127.0.0.1:${originPort}/`;
      if (target === 'veloflux') {
        const running = await startTarget('veloflux', ctx);
        stop = running.stop;
        url = `${running.url.replace('http', 'ws')}/`;
      } else if (target === 'nginx') {
        const running = await startNginx(ctx, pinned ? 1 : 'auto');
        stop = () => children.stop(running.child);
        url = running.url;
      }
      await waitForWebSocket(url);
      rows.push({ target, result: await measure(url, loadCpu) });
    } catch (err) {
      rows.push({ target, error: (err as Error).message });
      process.stderr.write(`bench: ${target} failed: ${(err as Error).message}\n`);
    }
    await stop();
  }
  await children.stopAll();
  process.stdout.write(`${formatTable(rows, mode, availableParallelism())}\n`);
  if (flags.json) process.stdout.write(`${JSON.stringify({ mode, clients: wholeNumber(flags.clients, '--clients', 1), size: wholeNumber(flags.size, '--size', 1), pipeline: wholeNumber(flags.pipeline, '--pipeline', 1), rows })}\n`);
  return rows.some((r) => r.error !== undefined || (r.result?.errors ?? 0) > 0) ? 1 : 0;
}

/** nginx with the usual WebSocket block (the plain config drops Upgrade, rightly, for HTTP). */
async function startNginx(ctx: TargetContext, workers: number | 'auto'): Promise<{ child: Child; url: string }> {
  const port = await freePort();
  const files = writeNginxConfig({ dir: join(ctx.tmpDir, 'nginx-ws'), port, originPort: ctx.originPort, workers, websocket: true });
  const child = ctx.children.spawn({ name: 'nginx', command: findNginx()!, args: [...files.args], cpu: ctx.proxyCpu });
  return { child, url: `ws://127.0.0.1:${port}/` };
}

/** Retries a WebSocket handshake until one completes (the target is up and forwards upgrades). */
async function waitForWebSocket(url: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    try {
      await new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(url, { perMessageDeflate: false });
        ws.once('open', () => {
          ws.terminate();
          resolve();
        });
        ws.once('error', reject);
      });
      return;
    } catch (err) {
      last = (err as Error).message;
      await sleep(100);
    }
  }
  throw new Error(`no WebSocket handshake through ${url} within ${READY_TIMEOUT_MS / 1000} s (last: ${last})`);
}

async function measure(url: string, cpu: number | undefined): Promise<ClientResult & { cpuBusy: number[] }> {
  const args = [self, '--role', 'client', '--url', url];
  for (const flag of ['clients', 'size', 'pipeline', 'duration', 'warmup'] as const) args.push(`--${flag}`, String(flags[flag]));
  const child = children.spawn({ name: 'ws clients', command: process.execPath, args, cpu });
  let before = readCpuTimes();
  try {
    const result = await child.waitForJsonLine((msg) => {
      if (msg['event'] === 'measuring') before = readCpuTimes();
      return msg['event'] === 'result' ? (msg['result'] as ClientResult) : undefined;
    }, (wholeNumber(flags.warmup, '--warmup', 0) + wholeNumber(flags.duration, '--duration', 1)) * 1000 + 30_000);
    return { ...result, cpuBusy: busyPercent(before, readCpuTimes()) };
  } finally {
    await children.stop(child);
  }
}

function formatTable(rows: readonly Row[], mode: string, cpus: number): string {
  const find = (t: Target) => rows.find((r) => r.target === t)?.result;
  const vf = find('veloflux');
  const ratio = (other: ClientResult | undefined) => (vf === undefined || other === undefined || other.messagesPerSecond === 0 ? '' : (vf.messagesPerSecond / other.messagesPerSecond).toFixed(2));
  const header = ['target', 'msg/s', 'p50 ms', 'p99 ms', 'errors', 'CPU busy %', 'VF/direct', 'VF/nginx'];
  const lines = rows.map((r) => {
    const m = r.result;
    if (m === undefined) return [r.target, `failed: ${r.error ?? ''}`];
    const isVf = r.target === 'veloflux';
    return [
      r.target,
      Math.round(m.messagesPerSecond).toLocaleString('en-US'),
      m.p50Ms.toFixed(2),
      m.p99Ms.toFixed(2),
      String(m.errors),
      m.cpuBusy.length > 4 ? 'many' : m.cpuBusy.map((b) => (Number.isFinite(b) ? String(Math.round(b)) : '?')).join('/'),
      isVf ? ratio(find('direct')) : '',
      isVf ? ratio(find('nginx')) : '',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.filter((l) => l.length > 2).map((l) => l[i]?.length ?? 0)));
  const render = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : cells.length > 2 ? c.padStart(widths[i]!) : c)).join('  ').trimEnd();
  // With no proxy on it, the proxy CPU should idle during "direct"; if not, others share the machine.
  const foreign = mode === 'per-core' ? find('direct')?.cpuBusy[PROXY_CPU] : undefined;
  const warning =
    foreign !== undefined && foreign > FOREIGN_BUSY_WARN
      ? [`warning: CPU ${PROXY_CPU} was ${Math.round(foreign)}% busy during "direct", with no proxy on it: other processes share the CPUs; expect noisy numbers.`]
      : [];
  const placement = mode === 'per-core' ? `proxy on CPU ${PROXY_CPU}, origin + clients on CPU ${LOAD_CPU}` : `nothing pinned, ${cpus} CPUs`;
  return [
    `WebSocket echo: mode ${mode} (${placement}), ${flags.clients} clients x ${flags.pipeline} in flight, ` +
      `${flags.size} B binary messages, ${flags.warmup} s warm-up + ${flags.duration} s measured`,
    '',
    render(header),
    render(header.map((_, i) => '-'.repeat(widths[i]!))),
    ...lines.map(render),
    '',
    `msg/s: echoes received per second (each a round trip); p50/p99: round-trip time. CPU busy %: per CPU (cpu0/cpu1...).`,
    'VF/x = VeloFlux msg/s / x msg/s (higher is better). If CPU 0 is near 100% while the proxy CPU is not, the ' +
      'origin + clients limited the row and the proxy figure is a lower bound.',
    ...warning,
  ].join('\n');
}

interface CpuTimes {
  busy: number;
  total: number;
}

/** Per-CPU jiffies from /proc/stat, as bench/loadgen.ts reads them. */
function readCpuTimes(): CpuTimes[] {
  let stat: string;
  try {
    stat = readFileSync('/proc/stat', 'utf8');
  } catch {
    return [];
  }
  const times: CpuTimes[] = [];
  for (const line of stat.split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (m === null) continue;
    const fields = m[2]!.trim().split(/\s+/).slice(0, 8).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    times[Number(m[1])] = { busy: total - (fields[3] ?? 0) - (fields[4] ?? 0), total };
  }
  return times;
}

function busyPercent(before: readonly CpuTimes[], after: readonly CpuTimes[]): number[] {
  return after.map((a, cpu) => {
    const b = before[cpu];
    return b === undefined || a.total === b.total ? Number.NaN : (100 * (a.busy - b.busy)) / (a.total - b.total);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (flags.role === 'origin') runOrigin();
else if (flags.role === 'client') await runClients();
else {
  // Children live in their own process groups (children.ts): reap them on every way out.
  runHarness({ name: 'bench:websocket', children, tmpDir: () => tmpDir, main: runHarnessMain });
}
