// `node dist/bench/https.js`: HTTPS requests per second with TLS terminated by the proxy, VeloFlux
// next to nginx, both forwarding over plain HTTP to the same origin (bench/upstream.ts), plus
// VeloFlux over plain HTTP in the same run so the cost of TLS itself shows. autocannon keeps its
// connections alive, so this is the steady state (record encryption), not handshakes.
//
// Certificates: one self-signed ECDSA P-256 certificate made with the openssl CLI at start, the
// same for both proxies; TLS 1.3 is negotiated by both.
import { runHarness } from './lifecycle.js';
import { setUpMode } from './pinning.js';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { ChildRegistry, type Child } from './children.js';
import { comparisonFlags, parseFlags, wholeNumber } from './flags.js';
import { measure, type Measurement } from './loadgen.js';
import { findNginx, writeNginxConfig } from './nginx.js';
import { LOAD_CPU, PROXY_CPU } from './options.js';
import { freePort } from './targets.js';
import { findVelofluxCli } from './veloflux.js';

const TARGETS = ['veloflux-http', 'veloflux-https', 'nginx-https'] as const;
type Target = (typeof TARGETS)[number];

const USAGE = `Usage: node dist/bench/https.js [flags]   (after npm run build)

  --connections N        concurrent keep-alive connections (default 50)
  --size BYTES           response body size (default 100)
  --duration SECONDS     measured seconds per target (default 10)
  --warmup SECONDS       unmeasured load before each measurement (default 2)
  --targets LIST         any of ${TARGETS.join(',')} (default all; nginx only if installed)
  --mode per-core|all    per-core: the proxy alone on CPU ${PROXY_CPU}, origin + load generator on CPU ${LOAD_CPU};
                         all: nothing pinned, proxies use every core (default per-core)
  --json                 also print the results as JSON on stdout
`;

const flags = parseFlags(process.argv.slice(2), {
  connections: { type: 'string', default: '50' },
  size: { type: 'string', default: '100' },
  ...comparisonFlags(TARGETS),
});

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const children = new ChildRegistry();
let tmpDir: string | undefined;
const READY_TIMEOUT_MS = 15_000;

interface Row {
  target: Target;
  result?: Measurement;
  error?: string;
}

async function main(): Promise<number> {
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { mode, targets, loadCpu, proxyCpu } = setUpMode(flags.mode, flags.targets, TARGETS);
  const pinned = mode === 'per-core';
  const workers = pinned ? 1 : 'auto';
  const size = wholeNumber(flags.size, '--size', 1);

  tmpDir = mkdtempSync(join(tmpdir(), 'veloflux-bench-https-'));
  chmodSync(tmpDir, 0o755); // nginx workers run as nobody when the harness is root
  const cert = join(tmpDir, 'cert.pem');
  const key = join(tmpDir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=bench.test', '-addext', 'subjectAltName=DNS:bench.test,IP:127.0.0.1'], { stdio: 'ignore' });
  chmodSync(key, 0o644);

  const origin = children.spawn({ name: 'origin', command: process.execPath, args: [join(projectRoot, 'dist', 'bench', 'upstream.js'), '--sizes', String(size)], cpu: loadCpu });
  const originPort = await origin.waitForJsonLine((m) => (typeof m['port'] === 'number' ? m['port'] : undefined), 10_000);

  const rows: Row[] = [];
  for (const target of targets) {
    if (target === 'nginx-https' && findNginx() === undefined) {
      process.stderr.write('bench: skipping nginx-https: binary not found (apt-get install -y nginx)\n');
      continue;
    }
    process.stderr.write(`bench: ${target}: starting, ${flags.warmup} s warm-up + ${flags.duration} s measured\n`);
    let child: Child | undefined;
    try {
      const port = await freePort();
      child = target === 'nginx-https' ? startNginx(port, originPort, cert, key, workers, proxyCpu) : startVeloflux(target === 'veloflux-https', port, originPort, cert, key, workers, proxyCpu);
      const url = `${target.endsWith('https') ? 'https' : 'http'}://127.0.0.1:${port}/${size}`;
      await waitUntilServing(child, url);
      const spec = {
        loadgen: 'autocannon',
        url,
        threads: 1,
        connections: wholeNumber(flags.connections, '--connections', 1),
        cpu: loadCpu,
        processGroup: child.pid,
      } as const;
      const warmupSeconds = wholeNumber(flags.warmup, '--warmup', 0);
      if (warmupSeconds > 0) {
        process.stderr.write(`bench: ${target}: warmup\n`);
        await measure(children, projectRoot, { ...spec, durationSeconds: warmupSeconds });
      }
      process.stderr.write(`bench: ${target}: measuring\n`);
      const result = await measure(children, projectRoot, { ...spec, durationSeconds: wholeNumber(flags.duration, '--duration', 1) });
      rows.push({ target, result });
    } catch (err) {
      rows.push({ target, error: (err as Error).message });
      process.stderr.write(`bench: ${target} failed: ${(err as Error).message}\n`);
    }
    if (child !== undefined) await children.stop(child);
  }
  await children.stopAll();
  process.stdout.write(`${formatTable(rows, mode, availableParallelism(), size)}\n`);
  if (flags.json) process.stdout.write(`${JSON.stringify({ mode, size, connections: wholeNumber(flags.connections, '--connections', 1), rows })}\n`);
  return rows.some((r) => r.error !== undefined || (r.result?.errors ?? 0) > 0 || (r.result?.non2xx ?? 0) > 0) ? 1 : 0;
}

function startVeloflux(tls: boolean, port: number, originPort: number, cert: string, key: string, workers: number | 'auto', cpu: number | undefined): Child {
  const dir = join(tmpDir!, tls ? 'veloflux-https' : 'veloflux-http');
  mkdirSync(join(dir, 'data'), { recursive: true });
  const config = {
    server: {
      workers,
      // With TLS, the plain listener takes a free port nobody sends to.
      http: { port: tls ? 0 : port, host: '127.0.0.1' },
      ...(tls ? { https: { port, host: '127.0.0.1', certificates: [{ cert, key }] } } : {}),
      api: { port: 0 },
      admin: { port: 0 },
      metrics: { port: 0 },
      dashboard: { port: 0 },
      dataDir: join(dir, 'data'),
    },
    pools: [{ name: 'origin', backends: [{ id: 'origin-1', url: `http://127.0.0.1:${originPort}` }] }],
    routes: [{ host: '*', path: '/', pool: 'origin' }],
  };
  const file = join(dir, 'veloflux.yaml');
  writeFileSync(file, `# Written by bench/https.ts for one benchmark run.\n${stringify(config)}`);
  return children.spawn({ name: 'veloflux', command: process.execPath, args: [findVelofluxCli(projectRoot), '--config', file], cpu, cwd: projectRoot });
}

function startNginx(port: number, originPort: number, cert: string, key: string, workers: number | 'auto', cpu: number | undefined): Child {
  const files = writeNginxConfig({ dir: join(tmpDir!, 'nginx'), port, originPort, workers, tls: { cert, key } });
  return children.spawn({ name: 'nginx', command: findNginx()!, args: [...files.args], cpu });
}

/** Polls until a request through the target comes back 200 (any certificate accepted). */
async function waitUntilServing(child: Child, url: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (child.hasExited) throw child.failure(`exited before serving ${url}`);
    const status = await probe(url);
    if (status === 200) return;
    last = String(status);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw child.failure(`did not serve ${url} within ${READY_TIMEOUT_MS / 1000} s (last: ${last})`);
}

async function probe(url: string): Promise<number | string> {
  if (url.startsWith('http:')) {
    const res = await fetch(url).catch((err: Error) => err.message);
    if (typeof res === 'string') return res;
    await res.arrayBuffer();
    return res.status;
  }
  return new Promise((resolve) => {
    const req = request(url, { agent: false, rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', (err) => resolve(err.message));
    req.end();
  });
}

function formatTable(rows: readonly Row[], mode: string, cpus: number, size: number): string {
  const find = (t: Target) => rows.find((r) => r.target === t)?.result;
  const ratio = (a: Measurement | undefined, b: Measurement | undefined) => (a === undefined || b === undefined || b.rps === 0 ? '' : (a.rps / b.rps).toFixed(2));
  const header = ['target', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'CPU busy %'];
  const lines = rows.map((r) => {
    const m = r.result;
    if (m === undefined) return [r.target, `failed: ${r.error ?? ''}`];
    const busy = m.cpuBusy.length > 4 ? 'many' : m.cpuBusy.map((b) => (Number.isFinite(b) ? String(Math.round(b)) : '?')).join('/');
    return [r.target, Math.round(m.rps).toLocaleString('en-US'), m.p50Ms.toFixed(2), m.p99Ms.toFixed(2), String(m.errors + m.timeouts), String(m.non2xx), busy];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.filter((l) => l.length > 2).map((l) => l[i]?.length ?? 0)));
  const render = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : cells.length > 2 ? c.padStart(widths[i]!) : c)).join('  ').trimEnd();
  const placement = mode === 'per-core' ? `proxy on CPU ${PROXY_CPU}, origin + load generator on CPU ${LOAD_CPU}` : `nothing pinned, ${cpus} CPUs`;
  const vfTls = find('veloflux-https');
  return [
    `HTTPS termination: mode ${mode} (${placement}), ${flags.connections} keep-alive connections, ${size} B bodies, ${flags.warmup} s warm-up + ${flags.duration} s measured`,
    '',
    render(header),
    render(header.map((_, i) => '-'.repeat(widths[i]!))),
    ...lines.map(render),
    '',
    `VeloFlux HTTPS / nginx HTTPS: ${ratio(vfTls, find('nginx-https')) || 'n/a'}   VeloFlux HTTPS / VeloFlux HTTP: ${ratio(vfTls, find('veloflux-http')) || 'n/a'}`,
    'CPU busy %: per CPU (cpu0/cpu1...). If CPU 0 is near 100% while the proxy CPU is not, the origin + load generator limited the row.',
  ].join('\n');
}

runHarness({ name: 'bench:https', children, tmpDir: () => tmpDir, main: main });
