// Results of one run: the tables people read and the JSON machines read. The tracked figure is
// CPU time per request of each target's own processes; ratios only compare saturated rows of
// the same run (across runs this machine's noise is larger than most differences).
import type { Measurement } from './loadgen.js';
import { LOAD_CPU, PROXY_CPU, type BenchOptions, type TargetName } from './options.js';
import { SATURATED_BUSY_PERCENT } from './saturation.js';

/** CPU 1 busier than this with no proxy on it means something else is running there. */
const FOREIGN_BUSY_WARN = 15;

export interface Row {
  readonly target: TargetName;
  readonly size: number;
  readonly measurement?: Measurement;
  /** saturated / load-bound in per-core mode; unchecked in all mode and for `direct`. */
  readonly saturation?: 'saturated' | 'load-bound' | 'unchecked';
  readonly error?: string;
}

/** One target at the equal offered rate (phase 2). */
export interface LatencyRow {
  readonly target: TargetName;
  readonly size: number;
  readonly measurement?: Measurement;
  readonly error?: string;
}

/**
 * Cost ratios at one body size: VeloFlux CPU µs per request over the other target's.
 * Above 1, VeloFlux spends more CPU per request (is dearer); below 1, it is cheaper.
 * null when either row is missing, has no CPU figure or is load-bound.
 */
export interface Ratios {
  readonly size: number;
  readonly costVsBaseline: number | null;
  readonly costVsNginx: number | null;
  readonly costVsFastify: number | null;
  /** veloflux-rl over veloflux: what checking a rate limit that never triggers costs. */
  readonly costRateLimitedVsPlain: number | null;
  /** veloflux-sec over veloflux: what the security filter in block mode costs on requests it lets through. */
  readonly costSecurityVsPlain: number | null;
  /** veloflux-tenant over veloflux: what a tenant's route costs (standing, quota, plan limit; metering is on the primary). */
  readonly costTenantVsPlain: number | null;
}

export interface RunInfo {
  readonly options: BenchOptions;
  readonly cpus: number;
  readonly skipped: readonly { target: TargetName; reason: string }[];
  readonly clockTicks: number;
}

export function errorCount(m: Measurement): number {
  return m.errors + m.timeouts + m.non2xx;
}

export function computeRatios(rows: readonly Row[], sizes: readonly number[]): Ratios[] {
  const cost = (target: TargetName, size: number): number | undefined => {
    const row = rows.find((r) => r.target === target && r.size === size);
    return row?.saturation === 'load-bound' ? undefined : row?.measurement?.cpuPerRequest?.totalUs;
  };
  const ratio = (a: number | undefined, b: number | undefined): number | null =>
    a !== undefined && b !== undefined && b > 0 ? a / b : null;
  return sizes.map((size) => {
    const vf = cost('veloflux', size);
    return {
      size,
      costVsBaseline: ratio(vf, cost('baseline', size)),
      costVsNginx: ratio(vf, cost('nginx', size)),
      costVsFastify: ratio(vf, cost('fastify', size)),
      costRateLimitedVsPlain: ratio(cost('veloflux-rl', size), vf),
      costSecurityVsPlain: ratio(cost('veloflux-sec', size), vf),
      costTenantVsPlain: ratio(cost('veloflux-tenant', size), vf),
    };
  });
}

export function formatTable(info: RunInfo, rows: readonly Row[], latencyRows: readonly LatencyRow[], ratios: readonly Ratios[]): string {
  const { options } = info;
  const perCore = options.mode === 'per-core';
  const placement = perCore
    ? 'proxy on CPU 1, origin + load generator on CPU 0'
    : `everything floats over ${info.cpus} CPUs, every proxy runs one process per CPU`;
  const out = [
    `VeloFlux benchmark: mode ${options.mode} (${placement}), load generator ${options.loadgen}, ` +
      `${options.durationSeconds} s measured per row`,
    '',
    'Saturated: CPU per request of each target\'s own processes (lower is cheaper)',
  ];
  const header = ['target', 'body', 'load', 'RPS', 'CPU busy %', 'own %', 'state', 'user us', 'sys us', 'total us', 'errors',
    'VF/baseline', 'VF/nginx', 'VF/fastify'];
  const lines: string[][] = [];
  for (const size of options.sizes) {
    if (lines.length > 0) lines.push([]);
    const r = ratios.find((x) => x.size === size);
    for (const target of options.targets) {
      const row = rows.find((x) => x.target === target && x.size === size);
      if (row === undefined) continue;
      const m = row.measurement;
      if (m === undefined) {
        lines.push([target, formatSize(size), 'failed (see below)']);
        continue;
      }
      const c = m.cpuPerRequest;
      const isVf = target === 'veloflux' && r !== undefined;
      lines.push([
        target,
        formatSize(size),
        `${m.loadgen === 'wrk' ? `${m.threads}x` : ''}${m.connections}`,
        formatInt(m.rps),
        formatCpu(m.cpuBusy),
        c === undefined ? '-' : String(Math.round(c.ownPercent)),
        row.saturation === 'unchecked' || row.saturation === undefined ? '-' : row.saturation,
        c === undefined ? '-' : c.userUs.toFixed(1),
        c === undefined ? '-' : c.sysUs.toFixed(1),
        c === undefined ? '-' : c.totalUs.toFixed(1),
        String(errorCount(m)),
        isVf ? formatRatio(r.costVsBaseline) : '',
        isVf ? formatRatio(r.costVsNginx) : '',
        isVf ? formatRatio(r.costVsFastify) : '',
      ]);
    }
  }
  out.push(...renderTable(header, lines), '');

  out.push('At equal load: every target at the same offered rate (paced autocannon)');
  const latencyHeader = ['target', 'body', 'offered/s', 'RPS', 'p50 ms', 'p99 ms', 'total us', 'errors'];
  const latencyLines: string[][] = [];
  for (const size of options.sizes) {
    if (latencyLines.length > 0) latencyLines.push([]);
    for (const target of options.targets) {
      const row = latencyRows.find((x) => x.target === target && x.size === size);
      if (row === undefined) continue;
      const m = row.measurement;
      if (m === undefined) {
        latencyLines.push([target, formatSize(size), 'failed (see below)']);
        continue;
      }
      latencyLines.push([
        target,
        formatSize(size),
        m.offeredRps === undefined ? '-' : formatInt(m.offeredRps),
        formatInt(m.rps),
        m.p50Ms.toFixed(2),
        m.p99Ms.toFixed(2),
        m.cpuPerRequest === undefined ? '-' : m.cpuPerRequest.totalUs.toFixed(1),
        String(errorCount(m)),
      ]);
    }
  }
  out.push(...renderTable(latencyHeader, latencyLines), '');

  out.push(
    `load: wrk threads x connections (autocannon: connections). CPU busy %: per CPU (${cpuLegend(info.cpus)}) over the window; ` +
      'own %: CPU time of the target\'s processes over the window, in % of one CPU (well under CPU 1\'s busy % = other processes share its CPU).',
    `user/sys/total us: utime/stime of every process in the target's process group (/proc/<pid>/stat, ${info.clockTicks} ticks/s) ` +
      'over the window, divided by the requests completed in it; the origin and load generator are not counted.',
    'VF/x = VeloFlux total us per request / x total us per request: above 1 VeloFlux is dearer, below 1 cheaper.',
  );
  if (perCore) {
    out.push(`state: saturated = the target's own processes kept CPU ${PROXY_CPU} (its core) >= ${SATURATED_BUSY_PERCENT}% busy (own %); load-bound = the load side ` +
      `(CPU ${LOAD_CPU}) could not keep the proxy busy even at the highest load level: its cost per request is flattered ` +
      '(an idle event loop pays more per request, a busy one batches), so it gets no ratio.');
  } else {
    out.push('mode all: proxies share every CPU with the load side, saturation is not checked; ' +
      'use --mode per-core for the tracked figure.');
  }
  out.push('Equal load: offered rate = half the slowest proxy\'s saturated RPS at that size; RPS below it means the target (or autocannon) fell behind.');
  const idleProxyCpu = rows.find((r) => r.target === 'direct' && r.measurement !== undefined)?.measurement?.cpuBusy[PROXY_CPU];
  if (perCore && idleProxyCpu !== undefined && idleProxyCpu > FOREIGN_BUSY_WARN) {
    out.push(`warning: CPU ${PROXY_CPU} was ${Math.round(idleProxyCpu)}% busy during "direct", when no proxy runs on it: ` +
      'other processes are competing for the CPUs, so these numbers are noisier than usual.');
  }
  for (const r of ratios) {
    if (r.costRateLimitedVsPlain === null) continue;
    out.push(`rate limiting at ${formatSize(r.size)}: veloflux-rl / veloflux CPU per request = ${formatRatio(r.costRateLimitedVsPlain)} ` +
      '(every request checked against a limit that never triggers; above 1 is its cost, within the noise of one run otherwise)');
  }
  for (const r of ratios) {
    if (r.costSecurityVsPlain === null) continue;
    out.push(`security filter at ${formatSize(r.size)}: veloflux-sec / veloflux CPU per request = ${formatRatio(r.costSecurityVsPlain)} ` +
      '(route in security: block, browser-like headers on every target, nothing blocked; issue 17 budget: <= 1.15)');
  }
  for (const r of ratios) {
    if (r.costTenantVsPlain === null) continue;
    out.push(`tenant route at ${formatSize(r.size)}: veloflux-tenant / veloflux CPU per request = ${formatRatio(r.costTenantVsPlain)} ` +
      '(route owned by a tenant on a plan with a requests/s limit that never triggers; usage metered by the primary)');
  }
  for (const s of info.skipped) out.push(`skipped ${s.target}: ${s.reason}`);
  const withErrors = [...rows, ...latencyRows].filter((r) => r.measurement !== undefined && errorCount(r.measurement) > 0);
  for (const r of withErrors) {
    const m = r.measurement!;
    out.push(`error: ${r.target} ${formatSize(r.size)}: ${m.errors} connection errors, ${m.timeouts} timeouts, ${m.non2xx} non-2xx (the run fails)`);
  }
  const failures = new Set([...rows, ...latencyRows].filter((r) => r.error !== undefined).map((r) => `${r.target} failed: ${r.error}`));
  for (const f of failures) out.push(f);
  return out.join('\n');
}

export function toJson(info: RunInfo, rows: readonly Row[], latencyRows: readonly LatencyRow[], ratios: readonly Ratios[]): string {
  const flat = (r: Row | LatencyRow) => ({ target: r.target, size: r.size, ...(r.measurement ?? {}), ...('saturation' in r ? { saturation: r.saturation } : {}), ...(r.error ? { error: r.error } : {}) });
  return JSON.stringify({
    mode: info.options.mode,
    loadgen: info.options.loadgen,
    durationSeconds: info.options.durationSeconds,
    warmupSeconds: info.options.warmupSeconds,
    cpus: info.cpus,
    clockTicks: info.clockTicks,
    results: rows.map(flat),
    equalLoad: latencyRows.map(flat),
    ratios,
    skipped: info.skipped,
  });
}

export function formatSize(bytes: number): string {
  const unit = (n: number, suffix: string): string => `${Number.isInteger(n) ? n : n.toFixed(1)} ${suffix}`;
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return unit(bytes / 1024, 'KB');
  return unit(bytes / (1024 * 1024), 'MB');
}

/** Target names left-aligned, numbers right-aligned; a failed row's message runs free; [] is a blank line. */
function renderTable(header: string[], lines: string[][]): string[] {
  const full = lines.filter((l) => l.length > 3);
  const widths = header.map((h, i) => Math.max(h.length, ...full.map((l) => l[i]?.length ?? 0)));
  const render = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : cells.length > 3 ? c.padStart(widths[i]!) : c))
      .join('  ')
      .trimEnd();
  return [render(header), render(header.map((_, i) => '-'.repeat(widths[i]!))), ...lines.map((l) => (l.length === 0 ? '' : render(l)))];
}

function formatInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function formatRatio(r: number | null): string {
  return r === null ? '-' : r.toFixed(2);
}

/** "97/100" for up to four CPUs, the average beyond that. */
function formatCpu(busy: readonly number[]): string {
  if (busy.length === 0) return '-';
  if (busy.length > 4) return `avg ${Math.round(busy.reduce((a, b) => a + b, 0) / busy.length)}`;
  return busy.map((b) => (Number.isFinite(b) ? String(Math.round(b)) : '?')).join('/');
}

function cpuLegend(cpus: number): string {
  return cpus > 4 ? 'average over all CPUs' : Array.from({ length: cpus }, (_, i) => `cpu${i}`).join('/');
}
