// CPU time of a target's own processes, from /proc/<pid>/stat: every process in the target's
// process group (children.ts spawns each target as a group leader), so nginx master + workers
// and VeloFlux primary + cluster workers are all counted, and nothing else is.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Kernel clock ticks per second (`getconf CLK_TCK`, 100 on nearly every Linux). */
export const CLOCK_TICKS_PER_SECOND = readClockTicks();

export interface GroupCpu {
  readonly userTicks: number;
  readonly sysTicks: number;
  readonly processes: number;
}

function readClockTicks(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/**
 * utime + stime (fields 14, 15) summed over the live processes whose pgrp (field 5) is `group`.
 * A process that exits inside the window loses its ticks to its parent's cutime; the targets'
 * processes live for the whole run, so that does not arise here. Undefined when /proc is missing.
 */
export function readGroupCpu(group: number): GroupCpu | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  let userTicks = 0;
  let sysTicks = 0;
  let processes = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) !== group) continue;
    userTicks += Number(fields[11]);
    sysTicks += Number(fields[12]);
    processes += 1;
  }
  return { userTicks, sysTicks, processes };
}
