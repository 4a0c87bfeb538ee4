// `npm run bench`: starts the origin, then each target in turn, measures it with autocannon at
// every body size and prints one table (see bench/README.md for how to read it).
import { runHarness } from './lifecycle.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChildRegistry } from './children.js';
import { measure } from './loadgen.js';
import { optionsOrExitCode } from './flags.js';
import { LOAD_CPU, PROXY_CPU, USAGE, parseOptions, type TargetName } from './options.js';
import { Progress } from './progress.js';
import { computeRatios, formatSize, formatTable, toJson, type Row, type RunInfo } from './report.js';
import { skipReason, startTarget, type RunningTarget, type TargetContext } from './targets.js';

// dist/bench/run.js -> the repository root, where dist/ and node_modules/ live.
const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Estimated seconds a target start / loadgen start adds to each row, for the time-left guess. */
const STEP_OVERHEAD_SECONDS = 1;


const children = new ChildRegistry();
let tmpDir: string | undefined;


/** `interrupted()` turns true at the first Ctrl-C / SIGTERM: the run is being torn down, stop measuring. */
async function main(interrupted: () => boolean): Promise<number> {
  const options = optionsOrExitCode('bench', USAGE, parseOptions);
  if ('exitCode' in options) return options.exitCode;
  const cpus = availableParallelism();

  if (options.mode === 'per-core') {
    if (cpus < 2) throw new Error(`--mode per-core needs at least 2 CPUs, this machine has ${cpus}`);
    // Keep the harness's own bookkeeping (progress line, polling) off the proxy's CPU too.
    const pin = spawnSync('taskset', ['-a', '-p', '-c', String(LOAD_CPU), String(process.pid)], { encoding: 'utf8' });
    if (pin.error !== undefined || pin.status !== 0) {
      throw new Error(`--mode per-core needs taskset (util-linux): ${pin.error?.message ?? pin.stderr.trim()}`);
    }
  }

  const skipped: RunInfo['skipped'][number][] = [];
  const targets: TargetName[] = [];
  for (const target of options.targets) {
    const reason = skipReason(target);
    if (reason === undefined) targets.push(target);
    else skipped.push({ target, reason });
  }

  tmpDir = mkdtempSync(join(tmpdir(), 'veloflux-bench-'));
  const pinned = options.mode === 'per-core';
  const origin = children.spawn({
    name: 'origin',
    command: process.execPath,
    args: [join(projectRoot, 'dist', 'bench', 'upstream.js'), '--sizes', options.sizes.join(',')],
    cpu: pinned ? LOAD_CPU : undefined,
  });
  const originPort = await origin.waitForJsonLine((m) => (typeof m['port'] === 'number' ? m['port'] : undefined), 10_000);
  const ctx: TargetContext = {
    children,
    projectRoot,
    tmpDir,
    originUrl: `http://127.0.0.1:${originPort}`,
    originPort,
    mode: options.mode,
    proxyCpu: pinned ? PROXY_CPU : undefined,
    probePath: `/${options.sizes[0]}`,
  };

  const rows: Row[] = [];
  const stepSeconds = options.warmupSeconds + options.durationSeconds + STEP_OVERHEAD_SECONDS;
  const progress = new Progress(stepSeconds);
  const count = targets.length * options.sizes.length;
  let index = 0;
  for (const target of targets) {
    let running: RunningTarget | undefined;
    try {
      progress.update({ index: index + 1, count, label: target }, 'starting', 0, stepSeconds);
      running = await startTarget(target, ctx);
    } catch (err) {
      if (interrupted()) return 130;
      const message = (err as Error).message;
      progress.note(`bench: ${target} failed to start: ${message}`);
      for (const size of options.sizes) rows.push({ target, size, error: message });
      index += options.sizes.length;
      continue;
    }
    for (const size of options.sizes) {
      index += 1;
      const step = { index, count, label: `${target} ${formatSize(size)}` };
      try {
        const measurement = await measure(children, projectRoot, {
          url: `${running.url}/${size}`,
          connections: options.connections,
          durationSeconds: options.durationSeconds,
          warmupSeconds: options.warmupSeconds,
          cpu: pinned ? LOAD_CPU : undefined,
          onPhase: (phase) =>
            phase === 'warmup'
              ? progress.update(step, 'warming up', options.warmupSeconds, options.warmupSeconds + options.durationSeconds)
              : progress.update(step, 'measuring', options.durationSeconds, options.durationSeconds),
        });
        rows.push({ target, size, measurement });
      } catch (err) {
        if (interrupted()) return 130;
        const message = (err as Error).message;
        progress.note(`bench: ${target} ${formatSize(size)} failed: ${message}`);
        rows.push({ target, size, error: message });
      }
    }
    await running.stop();
  }
  progress.stop();
  await children.stopAll();

  const info: RunInfo = { options, cpus, skipped };
  const ratios = computeRatios(rows, options.sizes, options.mode);
  process.stdout.write(`${formatTable(info, rows, ratios)}\n`);
  if (options.json) process.stdout.write(`${toJson(info, rows, ratios)}\n`);
  return rows.some((r) => r.error !== undefined) ? 1 : 0;
}

// Children live in their own process groups (see children.ts), so the harness must reap them on
// every way out: normal end, error, Ctrl-C, SIGTERM.
runHarness({ name: 'bench', children, tmpDir: () => tmpDir, main: (isInterrupted) => main(isInterrupted) });
