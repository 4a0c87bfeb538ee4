// One measurement window: runs the load generator (wrk, or autocannon in its own process),
// pinned in per-core mode, and samples over exactly that window (1) each CPU's busy time, so an
// idle proxy CPU shows up next to the numbers, and (2) the CPU time of the target's own
// processes, which divided by the requests completed is the figure we track.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildRegistry } from './children.js';
import { CLOCK_TICKS_PER_SECOND, readGroupCpu, type GroupCpu } from './proc-cpu.js';
import { runWrk } from './wrk.js';

export const LOADGENS = ['wrk', 'autocannon'] as const;
export type Loadgen = (typeof LOADGENS)[number];

export interface LoadResult {
  readonly rps: number;
  readonly requests: number;
  readonly bytesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
}

/** CPU the target's processes used per completed request, in microseconds. */
export interface CpuPerRequest {
  readonly userUs: number;
  readonly sysUs: number;
  readonly totalUs: number;
  /**
   * The target's CPU time over the window's wall time, in percent of one CPU. Next to CPU 1's
   * busy %, it tells a proxy starved by other processes on its CPU from one left idle.
   */
  readonly ownPercent: number;
}

export interface Measurement extends LoadResult {
  readonly loadgen: Loadgen;
  readonly threads: number;
  readonly connections: number;
  /** Offered requests per second (paced autocannon), undefined when driven flat out. */
  readonly offeredRps: number | undefined;
  /** Busy percent of each CPU during the measured window (index = CPU number). */
  readonly cpuBusy: readonly number[];
  /** undefined for `direct` (no proxy processes) or without /proc. */
  readonly cpuPerRequest: CpuPerRequest | undefined;
}

export interface MeasureSpec {
  readonly loadgen: Loadgen;
  readonly url: string;
  readonly threads: number;
  readonly connections: number;
  readonly durationSeconds: number;
  /** Pace autocannon to this many requests per second overall (equal-load latency). */
  readonly rate?: number;
  readonly cpu: number | undefined;
  /** Process group of the target under test (RunningTarget.processGroup). */
  readonly processGroup: number | undefined;
  /** `Name: value` headers wrk sends with every request (the paced autocannon runs send none). */
  readonly headers?: readonly string[];
}

const SLACK_MS = 30_000;

export async function measure(children: ChildRegistry, projectRoot: string, spec: MeasureSpec): Promise<Measurement> {
  let window = startWindow(spec.processGroup);
  let result: LoadResult;
  if (spec.loadgen === 'wrk' && spec.rate === undefined) {
    result = await runWrk(children, projectRoot, spec);
  } else {
    const child = children.spawn({
      name: 'autocannon',
      command: process.execPath,
      args: [
        join(projectRoot, 'dist', 'bench', 'loadgen-worker.js'),
        ...['--url', spec.url, '--connections', String(spec.connections), '--duration', String(spec.durationSeconds)],
        ...(spec.rate === undefined ? [] : ['--rate', String(Math.round(spec.rate))]),
      ],
      cpu: spec.cpu,
    });
    try {
      result = await child.waitForJsonLine((msg) => {
        // The window opens once autocannon is loaded and connecting, not at node's start-up.
        if (msg['event'] === 'measuring') window = startWindow(spec.processGroup);
        return msg['event'] === 'result' ? (msg['result'] as LoadResult) : undefined;
      }, spec.durationSeconds * 1000 + SLACK_MS);
    } finally {
      await children.stop(child);
    }
  }
  const cpuBusy = busyPercent(window.cpus, readCpuTimes());
  const after = spec.processGroup === undefined ? undefined : readGroupCpu(spec.processGroup);
  return {
    ...result,
    loadgen: spec.loadgen === 'wrk' && spec.rate === undefined ? 'wrk' : 'autocannon',
    threads: spec.threads,
    connections: spec.connections,
    offeredRps: spec.rate,
    cpuBusy,
    cpuPerRequest: perRequest(window, after, result.requests),
  };
}

interface Window {
  readonly startedAt: number;
  readonly cpus: CpuTimes[];
  readonly group: GroupCpu | undefined;
}

function startWindow(processGroup: number | undefined): Window {
  return {
    startedAt: performance.now(),
    cpus: readCpuTimes(),
    group: processGroup === undefined ? undefined : readGroupCpu(processGroup),
  };
}

/**
 * At 100 ticks/s one tick is 10 ms: over an 8 s window at thousands of requests per second
 * the rounding is under 0.2% of the figure.
 */
function perRequest(window: Window, after: GroupCpu | undefined, requests: number): CpuPerRequest | undefined {
  const before = window.group;
  if (before === undefined || after === undefined || requests <= 0) return undefined;
  const userTicks = after.userTicks - before.userTicks;
  const sysTicks = after.sysTicks - before.sysTicks;
  const us = (ticks: number): number => (ticks * 1e6) / CLOCK_TICKS_PER_SECOND / requests;
  const wallSeconds = (performance.now() - window.startedAt) / 1000;
  return {
    userUs: us(userTicks),
    sysUs: us(sysTicks),
    totalUs: us(userTicks + sysTicks),
    ownPercent: (100 * (userTicks + sysTicks)) / CLOCK_TICKS_PER_SECOND / wallSeconds,
  };
}

interface CpuTimes {
  readonly busy: number;
  readonly total: number;
}

/** Per-CPU jiffies from /proc/stat ("cpuN user nice system idle iowait irq softirq steal ..."). */
function readCpuTimes(): CpuTimes[] {
  let stat: string;
  try {
    stat = readFileSync('/proc/stat', 'utf8');
  } catch {
    return []; // not Linux: no CPU column
  }
  const times: CpuTimes[] = [];
  for (const line of stat.split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (m === null) continue;
    // guest and guest_nice (fields 9, 10) are already counted in user and nice.
    const fields = m[2]!.trim().split(/\s+/).slice(0, 8).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    times[Number(m[1])] = { busy: total - idle, total };
  }
  return times;
}

function busyPercent(before: readonly CpuTimes[], after: readonly CpuTimes[]): number[] {
  return after.map((a, cpu) => {
    const b = before[cpu];
    if (b === undefined || a.total === b.total) return Number.NaN;
    return (100 * (a.busy - b.busy)) / (a.total - b.total);
  });
}
