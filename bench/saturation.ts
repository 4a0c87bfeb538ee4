// Driving a target to saturation. A load generator that leaves the proxy idle part of the time
// flatters whoever is faster (an idle event loop pays more per request: fewer requests per
// epoll wake-up and per write batch), so cost per request is only compared between saturated
// rows. In per-core mode the proxy owns CPU 1; it counts as saturated when its own processes kept
// that CPU >= 95% busy over the measured window (DESIGN.md §3). The CPU's busy time alone is not
// enough on a shared machine: other processes on CPU 1 would pass an idle proxy as saturated.
import type { Loadgen, Measurement } from './loadgen.js';
import { PROXY_CPU, type Mode } from './options.js';

export const SATURATED_BUSY_PERCENT = 95;

export interface LoadLevel {
  readonly threads: number;
  readonly connections: number;
}

/**
 * Levels tried in order: connections doubling from `start`, wrk's threads going to 2 from the
 * third level (wrk and the origin share CPU 0; more threads than that only add switching).
 */
export function loadLadder(start: number, loadgen: Loadgen): LoadLevel[] {
  return [1, 2, 4, 8].map((factor, i) => ({
    threads: loadgen === 'wrk' && i >= 2 ? 2 : 1,
    connections: start * factor,
  }));
}

/** Only per-core mode can tell: in all mode the proxy shares every CPU with the load side. */
export function saturation(mode: Mode, m: Measurement): 'saturated' | 'load-bound' | 'unchecked' {
  if (mode !== 'per-core') return 'unchecked';
  return keepsItsCoreBusy(m) ? 'saturated' : 'load-bound';
}

/** The target's own CPU time over the window, in % of one CPU (CPU 1's busy % where /proc cannot tell). */
export function keepsItsCoreBusy(m: Measurement): boolean {
  return (m.cpuPerRequest?.ownPercent ?? m.cpuBusy[PROXY_CPU] ?? 0) >= SATURATED_BUSY_PERCENT;
}
