/**
 * One worker as the supervisor sees it: the IPC boundary. In production a node:cluster worker;
 * a unit test hands the supervisor its own peers that speak the same messages (shared/ipc.ts).
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { PrimaryMessage } from '../shared/ipc.js';

export interface WorkerProcess {
  /** Unique for the primary's lifetime: a respawned or replacement worker gets a new one. */
  readonly id: number;
  readonly pid: number | undefined;
  send(message: PrimaryMessage): void;
  /** False once the IPC channel is closed (the worker is exiting or gone). */
  isConnected(): boolean;
  kill(signal: NodeJS.Signals): void;
  /** Every IPC message the worker sends, unchecked: the supervisor ignores what is not its protocol. */
  onMessage(listener: (message: unknown) => void): void;
  /** Called once, when the process has exited. */
  onExit(listener: (code: number | null, signal: string | null) => void): void;
}

/** Starts one worker process. */
export type WorkerFactory = () => WorkerProcess;

const WORKER_ENTRY = fileURLToPath(new URL('../workers/main.js', import.meta.url));

/** Forks real workers (the compiled workers/main.js) with node:cluster. */
export function clusterWorkers(): WorkerFactory {
  cluster.setupPrimary({ exec: WORKER_ENTRY, args: [], silent: false });
  return () => new ClusterWorker(cluster.fork());
}

class ClusterWorker implements WorkerProcess {
  readonly #worker: Worker;

  constructor(worker: Worker) {
    this.#worker = worker;
  }

  get id(): number {
    return this.#worker.id;
  }

  get pid(): number | undefined {
    return this.#worker.process.pid;
  }

  send(message: PrimaryMessage): void {
    this.#worker.send(message);
  }

  isConnected(): boolean {
    return this.#worker.isConnected();
  }

  kill(signal: NodeJS.Signals): void {
    this.#worker.process.kill(signal);
  }

  onMessage(listener: (message: unknown) => void): void {
    this.#worker.on('message', listener);
  }

  onExit(listener: (code: number | null, signal: string | null) => void): void {
    this.#worker.once('exit', listener);
  }
}
