// The per-core / all mode shared by the harnesses: in per-core mode the harness pins itself (and
// its load generator) to LOAD_CPU and the proxy under test to PROXY_CPU.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { LOAD_CPU, PROXY_CPU } from './options.js';

export interface Pinning {
  readonly mode: 'per-core' | 'all';
  readonly loadCpu: number | undefined;
  readonly proxyCpu: number | undefined;
}

/** Validates --mode and --targets and pins this process in per-core mode. */
export function setUpMode<T extends string>(mode: string, targetsFlag: string, known: readonly T[]): Pinning & { targets: T[] } {
  if (mode !== 'per-core' && mode !== 'all') throw new Error(`--mode: expected per-core or all, got "${mode}"`);
  const targets = targetsFlag.split(',').map((t) => t.trim()) as T[];
  for (const t of targets) if (!known.includes(t)) throw new Error(`--targets: unknown target "${t}"`);
  const pinned = mode === 'per-core';
  if (pinned) {
    const cpus = availableParallelism();
    if (cpus < 2) throw new Error(`--mode per-core needs at least 2 CPUs, this machine has ${cpus}`);
    spawnSync('taskset', ['-a', '-p', '-c', String(LOAD_CPU), String(process.pid)]);
  }
  return { mode, targets, loadCpu: pinned ? LOAD_CPU : undefined, proxyCpu: pinned ? PROXY_CPU : undefined };
}
