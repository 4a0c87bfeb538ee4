/**
 * Sends this worker's log lines up to the primary (for GET /api/admin/logs) in batches: at most
 * MAX_LINES_PER_BATCH lines every BATCH_MS, so a worker logging in a loop costs the IPC channel
 * and the primary a bounded amount; lines over the cap are counted and the count goes up with
 * the next batch. Nothing is sent while the worker is quiet.
 */
import { workerMessage, type WorkerMessage } from '../../shared/ipc.js';

export const BATCH_MS = 250;
export const MAX_LINES_PER_BATCH = 200;

export class LogForwarder {
  readonly #send: (message: WorkerMessage) => void;
  readonly #maxLines: number;
  readonly #batchMs: number;
  #lines: string[] = [];
  #dropped = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(send: (message: WorkerMessage) => void, options: { maxLines?: number; batchMs?: number } = {}) {
    this.#send = send;
    this.#maxLines = options.maxLines ?? MAX_LINES_PER_BATCH;
    this.#batchMs = options.batchMs ?? BATCH_MS;
  }

  /** A LogSink (shared/log-tap.ts): one JSON line. */
  readonly push = (line: string): void => {
    if (this.#lines.length >= this.#maxLines) this.#dropped++;
    else this.#lines.push(line);
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), this.#batchMs);
      // A pending batch never keeps a worker alive that is otherwise done.
      this.#timer.unref();
    }
  };

  /** Sends what is waiting now (also on shutdown, before the worker exits). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#lines.length === 0 && this.#dropped === 0) return;
    const lines = this.#lines;
    const dropped = this.#dropped;
    this.#lines = [];
    this.#dropped = 0;
    this.#send(workerMessage({ type: 'log-lines', lines, dropped }));
  }
}
