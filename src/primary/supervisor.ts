/**
 * Forks and watches the workers: sends each the current snapshot, respawns a crashed worker
 * with exponential backoff (logging why it died), and on shutdown tells every worker to drain
 * and waits for them to exit.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../shared/log.js';
import { isVelofluxMessage, primaryMessage, type ConfigSnapshot, type WorkerMessage } from '../shared/ipc.js';

const WORKER_ENTRY = fileURLToPath(new URL('../workers/main.js', import.meta.url));
const BACKOFF_START_MS = 250;
const BACKOFF_MAX_MS = 30_000;
/** A worker that lived this long resets the crash streak. */
const STABLE_AFTER_MS = 60_000;

export interface SupervisorEvents {
  /** Every worker has built its runtime and listens; `httpPort` is the bound port. */
  onAllReady(httpPort: number): void;
  /** A worker could not start in a way respawning cannot fix (port taken, permission). */
  onFatal(message: string): void;
}

interface WorkerState {
  startedAt: number;
  ready: boolean;
}

export class Supervisor {
  #snapshot: ConfigSnapshot;
  readonly #log: Logger;
  readonly #events: SupervisorEvents;
  readonly #workers = new Map<Worker, WorkerState>();
  #crashStreak = 0;
  #stopping = false;
  #announcedReady = false;
  readonly #target: number;

  constructor(snapshot: ConfigSnapshot, log: Logger, events: SupervisorEvents) {
    this.#snapshot = snapshot;
    this.#log = log;
    this.#events = events;
    this.#target = snapshot.config.server.workers as number;
    cluster.setupPrimary({ exec: WORKER_ENTRY, args: [], silent: false });
  }

  start(): void {
    for (let i = 0; i < this.#target; i++) this.#fork();
  }

  get workerPids(): number[] {
    return [...this.#workers.keys()].map((w) => w.process.pid!).filter(Boolean);
  }

  #fork(): void {
    const worker = cluster.fork();
    this.#workers.set(worker, { startedAt: Date.now(), ready: false });
    worker.on('message', (message: unknown) => {
      if (isVelofluxMessage(message)) this.#onMessage(worker, message as WorkerMessage);
    });
    worker.on('exit', (code, signal) => this.#onExit(worker, code, signal));
  }

  #onMessage(worker: Worker, message: WorkerMessage): void {
    switch (message.type) {
      case 'hello':
        worker.send(primaryMessage({ type: 'snapshot', snapshot: this.#snapshot }));
        return;
      case 'ready': {
        const state = this.#workers.get(worker);
        if (state !== undefined) state.ready = true;
        this.#log.info({ worker: worker.id, workerPid: worker.process.pid, configVersion: message.configVersion }, 'worker serving');
        if (!this.#announcedReady && [...this.#workers.values()].filter((s) => s.ready).length >= this.#target) {
          this.#announcedReady = true;
          this.#events.onAllReady(message.httpPort);
        }
        return;
      }
      case 'fatal':
        this.#stopping = true;
        this.#events.onFatal(message.message);
        return;
      case 'snapshot-applied':
      case 'snapshot-failed':
        return;
    }
  }

  #onExit(worker: Worker, code: number | null, signal: string | null): void {
    const state = this.#workers.get(worker);
    this.#workers.delete(worker);
    if (this.#stopping) return;
    const lived = state === undefined ? 0 : Date.now() - state.startedAt;
    this.#crashStreak = lived >= STABLE_AFTER_MS ? 1 : this.#crashStreak + 1;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** (this.#crashStreak - 1));
    this.#log.error({ worker: worker.id, workerPid: worker.process.pid, code, signal, livedMs: lived, respawnInMs: delay }, `worker died (${signal ?? `exit code ${code}`}); respawning`);
    setTimeout(() => {
      if (!this.#stopping) this.#fork();
    }, delay);
  }

  /** Asks every worker to drain within `deadlineMs`, resolves when all have exited. */
  async shutdown(deadlineMs: number): Promise<void> {
    this.#stopping = true;
    const exits = [...this.#workers.keys()].map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) return resolve();
          worker.once('exit', () => resolve());
          worker.send(primaryMessage({ type: 'shutdown', deadlineMs }));
          // Backstop: a worker that ignores the deadline is killed shortly after it.
          setTimeout(() => worker.process.kill('SIGKILL'), deadlineMs + 2_000).unref();
        }),
    );
    await Promise.all(exits);
  }
}
