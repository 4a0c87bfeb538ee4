// `npm run bench`: starts the origin, then each target in turn: drives it to saturation with wrk
// (autocannon without wrk) at every body size, measuring the CPU its own processes spend per
// request; then runs every target again at one equal offered rate for latency. Prints both
// tables (see bench/README.md for the method and how to read them).
import { runHarness } from './lifecycle.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChildRegistry } from './children.js';
import { measure, type MeasureSpec } from './loadgen.js';
import { CLOCK_TICKS_PER_SECOND } from './proc-cpu.js';
import { keepsItsCoreBusy, loadLadder, saturation, type LoadLevel } from './saturation.js';
import { optionsOrExitCode } from './flags.js';
import { LOAD_CPU, PROXY_CPU, USAGE, parseOptions, type TargetName } from './options.js';
import { Progress, type ProgressStep } from './progress.js';
import { computeRatios, errorCount, formatSize, formatTable, toJson, type LatencyRow, type Row, type RunInfo } from './report.js';
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
  const latencyRows: LatencyRow[] = [];
  const ladder = loadLadder(options.connections, options.loadgen);
  const probeSeconds = Math.max(1, options.warmupSeconds);
  const stepSeconds = probeSeconds * 2 + options.durationSeconds + STEP_OVERHEAD_SECONDS;
  const progress = new Progress(stepSeconds);
  const count = targets.length * options.sizes.length * 2;
  let index = 0;

  // Phase 1: each target alone, driven to saturation, CPU per request measured.
  for (const target of targets) {
    const running = await start(target, ctx, progress, { index: index + 1, count, label: target }, stepSeconds);
    if (interrupted()) return 130;
    if (!('url' in running)) {
      for (const size of options.sizes) rows.push({ target, size, error: running.error });
      index += options.sizes.length;
      continue;
    }
    for (const size of options.sizes) {
      index += 1;
      const step = { index, count, label: `${target} ${formatSize(size)}` };
      const spec = (level: LoadLevel, durationSeconds: number): MeasureSpec => ({
        loadgen: options.loadgen,
        url: `${running.url}/${size}`,
        headers: options.headers,
        threads: level.threads,
        connections: level.connections,
        durationSeconds,
        cpu: pinned ? LOAD_CPU : undefined,
        processGroup: running.processGroup,
      });
      try {
        // Probes double as warm-up: the first level whose probe keeps the proxy's CPU >= 95%
        // busy is measured; if none does, the last one is, and the row is marked load-bound.
        // A measured window that still falls short (noise after a good probe) moves one level up
        // and is measured again, until the top of the ladder.
        const climbs = pinned && target !== 'direct';
        let at = 0;
        const probeLevels = climbs ? ladder : options.warmupSeconds > 0 ? [ladder[0]!] : [];
        for (const [i, candidate] of probeLevels.entries()) {
          at = i;
          progress.update(step, `probing ${candidate.threads}x${candidate.connections}`, probeSeconds, stepSeconds);
          const probe = await measure(children, projectRoot, spec(candidate, probeSeconds));
          if (keepsItsCoreBusy(probe)) break;
        }
        for (;;) {
          const level = ladder[at]!;
          progress.update(step, `measuring ${level.threads}x${level.connections}`, options.durationSeconds, options.durationSeconds);
          const measurement = await measure(children, projectRoot, spec(level, options.durationSeconds));
          const state = target === 'direct' ? 'unchecked' : saturation(options.mode, measurement);
          if (state !== 'load-bound' || !climbs || at === ladder.length - 1) {
            rows.push({ target, size, measurement, saturation: state });
            break;
          }
          at += 1;
        }
      } catch (err) {
        if (interrupted()) return 130;
        const message = (err as Error).message;
        progress.note(`bench: ${target} ${formatSize(size)} failed: ${message}`);
        rows.push({ target, size, error: message });
      }
    }
    await running.stop();
  }

  // Phase 2: every target again at one offered rate per size, half the slowest proxy's
  // saturated RPS, so latency is compared at equal load (paced autocannon; wrk cannot pace).
  const rates = new Map<number, number>();
  for (const size of options.sizes) {
    const rps = rows.filter((r) => r.size === size && r.target !== 'direct' && r.measurement !== undefined).map((r) => r.measurement!.rps);
    if (rps.length > 0) rates.set(size, Math.max(1, Math.floor(Math.min(...rps) / 2)));
  }
  for (const target of targets) {
    const running = await start(target, ctx, progress, { index: index + 1, count, label: `${target} latency` }, stepSeconds);
    if (interrupted()) return 130;
    if (!('url' in running)) {
      for (const size of options.sizes) latencyRows.push({ target, size, error: running.error });
      index += options.sizes.length;
      continue;
    }
    for (const size of options.sizes) {
      index += 1;
      const rate = rates.get(size);
      if (rate === undefined) continue;
      const step = { index, count, label: `${target} ${formatSize(size)} at ${rate} req/s` };
      const spec: MeasureSpec = {
        loadgen: 'autocannon',
        url: `${running.url}/${size}`,
        threads: 1,
        connections: options.connections,
        durationSeconds: options.durationSeconds,
        rate,
        cpu: pinned ? LOAD_CPU : undefined,
        processGroup: running.processGroup,
      };
      try {
        progress.update(step, 'warming up', probeSeconds, probeSeconds + options.durationSeconds);
        await measure(children, projectRoot, { ...spec, durationSeconds: probeSeconds });
        progress.update(step, 'measuring latency', options.durationSeconds, options.durationSeconds);
        latencyRows.push({ target, size, measurement: await measure(children, projectRoot, spec) });
      } catch (err) {
        if (interrupted()) return 130;
        const message = (err as Error).message;
        progress.note(`bench: ${target} ${formatSize(size)} latency failed: ${message}`);
        latencyRows.push({ target, size, error: message });
      }
    }
    await running.stop();
  }
  progress.stop();
  await children.stopAll();

  const info: RunInfo = { options, cpus, skipped, clockTicks: CLOCK_TICKS_PER_SECOND };
  const ratios = computeRatios(rows, options.sizes);
  process.stdout.write(`${formatTable(info, rows, latencyRows, ratios)}\n`);
  if (options.json) process.stdout.write(`${toJson(info, rows, latencyRows, ratios)}\n`);
  // A row with errors measured something other than proxying: the run fails.
  const failed = [...rows, ...latencyRows].some((r) => r.error !== undefined || (r.measurement !== undefined && errorCount(r.measurement) > 0));
  return failed ? 1 : 0;
}

/** Starts a target, or returns why it did not start (also noted on the progress line). */
async function start(target: TargetName, ctx: TargetContext, progress: Progress, step: ProgressStep, stepSeconds: number): Promise<RunningTarget | { error: string }> {
  try {
    progress.update(step, 'starting', 0, stepSeconds);
    return await startTarget(target, ctx);
  } catch (err) {
    const message = (err as Error).message;
    progress.note(`bench: ${target} failed to start: ${message}`);
    return { error: message };
  }
}

// Children live in their own process groups (see children.ts), so the harness must reap them on
// every way out: normal end, error, Ctrl-C, SIGTERM.
runHarness({ name: 'bench', children, tmpDir: () => tmpDir, main: (isInterrupted) => main(isInterrupted) });
