// Results of one run: the table people read and the JSON machines read. Ratios only compare
// numbers from the same run; across runs this machine's noise is larger than most differences.
import type { Measurement } from './loadgen.js';
import { LOAD_CPU, PROXY_CPU, type BenchOptions, type TargetName } from './options.js';

const LOAD_BUSY_SATURATED = 95;
const PROXY_BUSY_MIN = 90;
/** CPU 1 busier than this with no proxy on it means something else is running there. */
const FOREIGN_BUSY_WARN = 15;

export interface Row {
  readonly target: TargetName;
  readonly size: number;
  readonly measurement?: Measurement;
  readonly error?: string;
}

/** VeloFlux against each reference at one body size; RPS ratios > 1 and p99 ratios < 1 favour VeloFlux. */
export interface Ratios {
  readonly size: number;
  readonly rpsVsDirect: number | null;
  readonly rpsVsNginx: number | null;
  /**
   * Per-core mode: requests per second of busy proxy CPU, VeloFlux over nginx. Unlike rpsVsNginx
   * it stays fair when nginx is held back by the load side (its CPU not saturated).
   */
  readonly rpsPerCpuVsNginx: number | null;
  readonly rpsVsFastify: number | null;
  readonly p99VsNginx: number | null;
  /** veloflux-rl RPS / veloflux RPS: what checking a rate limit that never triggers costs. */
  readonly rpsRateLimitedVsPlain: number | null;
}

export interface RunInfo {
  readonly options: BenchOptions;
  readonly cpus: number;
  readonly skipped: readonly { target: TargetName; reason: string }[];
}

export function computeRatios(rows: readonly Row[], sizes: readonly number[], mode: BenchOptions['mode']): Ratios[] {
  const find = (target: TargetName, size: number): Measurement | undefined =>
    rows.find((r) => r.target === target && r.size === size)?.measurement;
  const ratio = (a: number | undefined, b: number | undefined): number | null =>
    a !== undefined && b !== undefined && b > 0 && Number.isFinite(a) && Number.isFinite(b) ? a / b : null;
  /** RPS per fully busy proxy CPU; only per-core mode has the proxy alone on its CPU. */
  const perProxyCpu = (m: Measurement | undefined): number | undefined => {
    const busy = m?.cpuBusy[PROXY_CPU];
    return mode === 'per-core' && m !== undefined && busy !== undefined && busy > 0 ? m.rps / (busy / 100) : undefined;
  };
  return sizes.map((size) => {
    const vf = find('veloflux', size);
    const nginx = find('nginx', size);
    return {
      size,
      rpsVsDirect: ratio(vf?.rps, find('direct', size)?.rps),
      rpsVsNginx: ratio(vf?.rps, nginx?.rps),
      rpsPerCpuVsNginx: ratio(perProxyCpu(vf), perProxyCpu(nginx)),
      rpsVsFastify: ratio(vf?.rps, find('fastify', size)?.rps),
      p99VsNginx: ratio(vf?.p99Ms, find('nginx', size)?.p99Ms),
      rpsRateLimitedVsPlain: ratio(find('veloflux-rl', size)?.rps, vf?.rps),
    };
  });
}

export function formatTable(info: RunInfo, rows: readonly Row[], ratios: readonly Ratios[]): string {
  const { options } = info;
  const placement =
    options.mode === 'per-core'
      ? 'proxy on CPU 1, origin + load generator on CPU 0'
      : `everything floats over ${info.cpus} CPUs, proxies use every core`;
  const header = [
    'target', 'body', 'RPS', 'p50 ms', 'p99 ms', 'errors', 'CPU busy %',
    'VF/direct', 'VF/nginx', 'per CPU', 'VF/fastify', 'p99 VF/nginx',
  ];
  const lines: string[][] = [];
  const sizeBreaks = new Set<number>();
  for (const size of options.sizes) {
    if (lines.length > 0) sizeBreaks.add(lines.length);
    const r = ratios.find((x) => x.size === size);
    for (const target of options.targets) {
      const row = rows.find((x) => x.target === target && x.size === size);
      if (row === undefined) continue;
      const m = row.measurement;
      if (m === undefined) {
        lines.push([target, formatSize(size), 'failed (see below)']);
        continue;
      }
      const isVf = target === 'veloflux' && r !== undefined;
      lines.push([
        target,
        formatSize(size),
        Math.round(m.rps).toLocaleString('en-US'),
        m.p50Ms.toFixed(2),
        m.p99Ms.toFixed(2),
        String(m.errors + m.timeouts + m.non2xx),
        formatCpu(m.cpuBusy) + (isLoadBound(info, target, m) ? ' !' : ''),
        isVf ? formatRatio(r.rpsVsDirect) : '',
        isVf ? formatRatio(r.rpsVsNginx) : '',
        isVf ? formatRatio(r.rpsPerCpuVsNginx) : '',
        isVf ? formatRatio(r.rpsVsFastify) : '',
        isVf ? formatRatio(r.p99VsNginx) : '',
      ]);
    }
  }

  const widths = header.map((h, i) =>
    Math.max(h.length, ...lines.filter((l) => i < 2 || l.length > 3).map((l) => l[i]?.length ?? 0)),
  );
  // Target names left-aligned, numbers right-aligned; a failed row's message runs free.
  const render = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : i < 2 || cells.length > 3 ? c.padStart(widths[i]!) : c))
      .join('  ')
      .trimEnd();
  const out = [
    `VeloFlux benchmark: mode ${options.mode} (${placement}), ${options.connections} connections, ` +
      `${options.warmupSeconds} s warm-up + ${options.durationSeconds} s measured per row`,
    '',
    render(header),
    render(header.map((_, i) => '-'.repeat(widths[i]!))),
  ];
  lines.forEach((l, i) => {
    if (sizeBreaks.has(i)) out.push('');
    out.push(render(l));
  });
  out.push('');
  out.push(`CPU busy %: per CPU (${cpuLegend(info.cpus)}) during the measured window. ` +
    'VF/x = VeloFlux RPS / x RPS (higher is better); per CPU = VF/nginx in RPS per busy second of the proxy\'s CPU ' +
    '(per-core mode; fair when nginx is load-bound); p99 VF/nginx = VeloFlux p99 / nginx p99 (lower is better).');
  if (lines.some((l) => l[6]?.endsWith('!'))) {
    out.push(`! = the proxy's CPU was under ${PROXY_BUSY_MIN}% busy while CPU ${LOAD_CPU} (origin + load generator) ` +
      'was saturated: the load side, not the proxy, limited this row, so its RPS is only a lower bound for the proxy.');
  }
  const idleProxyCpu = rows.find((r) => r.target === 'direct' && r.measurement !== undefined)?.measurement?.cpuBusy[PROXY_CPU];
  if (options.mode === 'per-core' && idleProxyCpu !== undefined && idleProxyCpu > FOREIGN_BUSY_WARN) {
    out.push(`warning: CPU ${PROXY_CPU} was ${Math.round(idleProxyCpu)}% busy during "direct", when no proxy runs on it: ` +
      'other processes are competing for the CPUs, so these numbers are noisier than usual.');
  }
  for (const r of ratios) {
    if (r.rpsRateLimitedVsPlain === null) continue;
    out.push(`rate limiting at ${formatSize(r.size)}: veloflux-rl / veloflux RPS = ${formatRatio(r.rpsRateLimitedVsPlain)} ` +
      '(every request checked against a limit that never triggers; below 1 is its cost, within the noise of one run otherwise)');
  }
  for (const s of info.skipped) out.push(`skipped ${s.target}: ${s.reason}`);
  const failures = new Set(rows.filter((r) => r.error !== undefined).map((r) => `${r.target} failed: ${r.error}`));
  for (const f of failures) out.push(f);
  return out.join('\n');
}

export function toJson(info: RunInfo, rows: readonly Row[], ratios: readonly Ratios[]): string {
  return JSON.stringify({
    mode: info.options.mode,
    connections: info.options.connections,
    durationSeconds: info.options.durationSeconds,
    warmupSeconds: info.options.warmupSeconds,
    cpus: info.cpus,
    results: rows.map((r) => ({ target: r.target, size: r.size, ...(r.measurement ?? {}), ...(r.error ? { error: r.error } : {}) })),
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

/** Per-core mode only: did the load side, not the proxy, run out of CPU? */
function isLoadBound(info: RunInfo, target: TargetName, m: Measurement): boolean {
  if (info.options.mode !== 'per-core' || target === 'direct') return false;
  const load = m.cpuBusy[LOAD_CPU] ?? Number.NaN;
  const proxy = m.cpuBusy[PROXY_CPU] ?? Number.NaN;
  return load >= LOAD_BUSY_SATURATED && proxy < PROXY_BUSY_MIN;
}
