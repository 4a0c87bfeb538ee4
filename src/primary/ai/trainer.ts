/**
 * Training jobs: one at a time, on the leader (embedded: this instance), scheduled and on
 * POST /api/ai/train. The grid search runs in a piscina thread (training-task.ts), bounded by a
 * time limit that aborts it; the event loop's delay is measured while it runs and reported with
 * the job, since training must never stall the primary (target: p99 under 20 ms).
 */
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setImmediate, setTimeout } from 'node:timers/promises';
import { Piscina } from 'piscina';
import type { AiTrainingJob } from '../../shared/ai-api.js';
import { VelofluxError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { recordOf, type ModelStore } from './model-store.js';
import { MINUTE_PERIOD } from './predictor.js';
import { requestsPerSecond } from './series-bucket.js';
import { contiguousTail } from './series-retention.js';
import type { SeriesStore } from './series-store.js';
import type { TrainedSeries, TrainingInput } from './training-task.js';

/** The compiled task beside this compiled file. */
export const TRAINING_TASK = new URL('./training-task.js', import.meta.url);
const KEEP_JOBS = 20;

export interface TrainerOptions {
  readonly series: SeriesStore;
  readonly models: ModelStore;
  readonly isLeader: () => boolean;
  /** Series keys of the config in force (pools and routes), trained even before they have data: their models then say how much is missing. */
  readonly configuredKeys?: () => string[];
  readonly log: Logger;
  /** A job running longer is aborted (its thread terminated). Default 60 s. */
  readonly timeLimitMs?: number;
  readonly taskFile?: URL;
}

export class Trainer {
  readonly #options: TrainerOptions;
  readonly #pool: Piscina;
  readonly #jobs = new Map<string, AiTrainingJob>();
  #running: AiTrainingJob | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #closing = new AbortController();

  constructor(options: TrainerOptions) {
    this.#options = options;
    // One thread: a job is one task, and the primary's other work keeps the other core.
    this.#pool = new Piscina({ filename: (options.taskFile ?? TRAINING_TASK).href, minThreads: 0, maxThreads: 1, idleTimeout: 30_000 });
  }

  /** Trains every `intervalMs` on the leader; a tick while a job runs is skipped. */
  schedule(intervalMs: number): void {
    this.#timer ??= setInterval(() => {
      if (this.#options.isLeader() && this.#running === undefined) this.start('schedule');
    }, intervalMs);
    this.#timer.unref();
  }

  job(id: string): AiTrainingJob | undefined {
    return this.#jobs.get(id);
  }

  get running(): AiTrainingJob | undefined {
    return this.#running;
  }

  get last(): AiTrainingJob | undefined {
    return [...this.#jobs.values()].filter((j) => j.state !== 'running').at(-1);
  }

  /** Starts a job and answers it at once (state `running`); 409 while one runs, 503 off the leader. */
  start(by: string): AiTrainingJob {
    if (!this.#options.isLeader()) throw new VelofluxError('VF_ERR_AI_NOT_LEADER');
    if (this.#running !== undefined) throw new VelofluxError('VF_ERR_BUSY', `training job ${this.#running.id} is running`);
    const job: AiTrainingJob = { id: randomUUID(), state: 'running', startedAt: new Date().toISOString(), by };
    this.#running = job;
    this.#jobs.set(job.id, job);
    for (const id of [...this.#jobs.keys()].slice(0, Math.max(0, this.#jobs.size - KEEP_JOBS))) this.#jobs.delete(id);
    void this.#run(job);
    return { ...job };
  }

  async #run(job: AiTrainingJob): Promise<void> {
    const { series, models, log } = this.#options;
    const started = performance.now();
    // The second before the work, for comparison: on a busy host the loop is late without us too.
    const baseline = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
    baseline.enable();
    await setTimeout(BASELINE_MS);
    baseline.disable();
    job.eventLoopDelayBefore = { p50Ms: lagMs(baseline.percentile(50)), p99Ms: lagMs(baseline.percentile(99)), maxMs: lagMs(baseline.max) };
    const delay = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
    delay.enable();
    try {
      const input: TrainingInput = { period: MINUTE_PERIOD, series: [] };
      const keys = new Set([...(this.#options.configuredKeys?.() ?? []), ...(await series.keys())]);
      for (const key of keys) {
        // One series decoded per turn of the event loop: a day of minutes costs a few ms each.
        await setImmediate();
        const tail = contiguousTail((await series.get(key))?.minutes ?? []);
        (input.series as TrainingInput['series'][number][]).push({ key, values: tail.map(requestsPerSecond), lastT: tail.at(-1)?.t ?? 0 });
      }
      const signal = AbortSignal.any([AbortSignal.timeout(this.#options.timeLimitMs ?? 60_000), this.#closing.signal]);
      const trained = (await this.#pool.run(input, { signal })) as TrainedSeries[];
      const trainedAt = new Date().toISOString();
      for (const t of trained) await models.put(recordOf(t, MINUTE_PERIOD, job.id, trainedAt));
      job.trained = trained.map((t) => ({ key: t.key, status: t.result === undefined ? 'insufficient_data' : 'trained', ...(t.result !== undefined ? { serving: t.result.used ? 'holt_winters' : 'seasonal_naive' } : {}) }));
      job.state = 'done';
    } catch (err) {
      job.state = 'failed';
      job.error = (err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError' ? 'aborted: the time limit passed or VeloFlux is stopping' : (err as Error).message;
      log.warn({ job: job.id, err: job.error }, 'AI training failed');
    } finally {
      delay.disable();
      job.eventLoopDelay = { p50Ms: lagMs(delay.percentile(50)), p99Ms: lagMs(delay.percentile(99)), maxMs: lagMs(delay.max) };
      job.durationMs = Math.round(performance.now() - started);
      job.finishedAt = new Date().toISOString();
      this.#running = undefined;
      log.info({ job: job.id, state: job.state, durationMs: job.durationMs, eventLoopDelay: job.eventLoopDelay, series: job.trained?.length ?? 0 }, 'AI training finished');
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#closing.abort();
    await this.#pool.destroy();
  }
}

/**
 * The histogram records the time between its timer's runs, the resolution included (an idle loop
 * reads about 10 ms at resolution 10): the lag is what comes on top of it.
 */
const LAG_RESOLUTION_MS = 10;
const BASELINE_MS = 1000;
const lagMs = (ns: number): number => (Number.isFinite(ns) ? Math.max(0, Math.round(ns / 10_000 - LAG_RESOLUTION_MS * 100) / 100) : 0);
