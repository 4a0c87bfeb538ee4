// One measurement: runs the load-generator worker as a child (pinned in per-core mode) and
// samples per-CPU busy time over exactly the measured window, so a saturated load generator
// or an idle proxy CPU shows up next to the numbers instead of silently skewing them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildRegistry } from './children.js';

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

export interface Measurement extends LoadResult {
  /** Busy percent of each CPU during the measured window (index = CPU number). */
  readonly cpuBusy: readonly number[];
}

export interface MeasureSpec {
  readonly url: string;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly cpu: number | undefined;
  readonly onPhase: (phase: 'warmup' | 'measuring') => void;
}

const SLACK_MS = 30_000;

export async function measure(children: ChildRegistry, projectRoot: string, spec: MeasureSpec): Promise<Measurement> {
  const child = children.spawn({
    name: 'load generator',
    command: process.execPath,
    args: [
      join(projectRoot, 'dist', 'bench', 'loadgen-worker.js'),
      ...['--url', spec.url, '--connections', String(spec.connections)],
      ...['--duration', String(spec.durationSeconds), '--warmup', String(spec.warmupSeconds)],
    ],
    cpu: spec.cpu,
  });
  let before: CpuTimes[] = readCpuTimes();
  try {
    const result = await child.waitForJsonLine((msg) => {
      if (msg['event'] === 'warmup') spec.onPhase('warmup');
      if (msg['event'] === 'measuring') {
        before = readCpuTimes();
        spec.onPhase('measuring');
      }
      return msg['event'] === 'result' ? (msg['result'] as LoadResult) : undefined;
    }, (spec.warmupSeconds + spec.durationSeconds) * 1000 + SLACK_MS);
    return { ...result, cpuBusy: busyPercent(before, readCpuTimes()) };
  } finally {
    await children.stop(child);
  }
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
