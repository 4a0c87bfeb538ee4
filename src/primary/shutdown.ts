/**
 * Stopping the primary, once. On SIGTERM or SIGINT: the services stop taking work, the workers
 * drain within the shutdown deadline, then the cluster seat and the state store are let go and
 * the process exits 0. On a fatal error: the workers are stopped at once and it exits 1.
 */
import type { Logger } from '../shared/log.js';

export interface ShutdownSteps {
  /** Stop taking work (listeners, timers); not awaited: the workers' drain is what takes time. */
  stopServices(): void;
  /** Leave the node list and hand the lease over at once; awaited (at most 1 s) once the workers are gone. */
  leaveCluster(): Promise<unknown>;
  /** Flush and close the state store, last (at most 1 s). */
  closeStore(): Promise<unknown>;
}

/** Waits for `work`, but no longer than `ms`. */
const atMost = (work: Promise<unknown>, ms: number) => Promise.race([work, new Promise((r) => setTimeout(r, ms))]);

export class ShutdownCoordinator {
  readonly #workers: { shutdown(deadlineMs: number): Promise<void> };
  readonly #deadlineMs: number;
  readonly #log: Logger;
  readonly #exit: (code: number) => void;
  #stopping = false;

  constructor(workers: { shutdown(deadlineMs: number): Promise<void> }, deadlineMs: number, log: Logger, exit: (code: number) => void = (code) => process.exit(code)) {
    this.#workers = workers;
    this.#deadlineMs = deadlineMs;
    this.#log = log;
    this.#exit = exit;
  }

  /** Something VeloFlux cannot run with (a port taken, a worker that cannot start): say why, stop the workers, exit 1. */
  fail(message: string): void {
    this.#log.fatal(message);
    process.stderr.write(`veloflux: ${message}\n`);
    void this.#workers.shutdown(0).finally(() => this.#exit(1));
  }

  /** From now on SIGTERM and SIGINT stop the primary gracefully (the first one counts). */
  stopOnSignals(steps: ShutdownSteps): void {
    process.on('SIGTERM', () => this.stop('SIGTERM', steps));
    process.on('SIGINT', () => this.stop('SIGINT', steps));
  }

  stop(signal: string, steps: ShutdownSteps): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#log.info({ signal, deadlineMs: this.#deadlineMs }, 'shutting down: draining in-flight requests');
    steps.stopServices();
    const leaving = steps.leaveCluster();
    void this.#workers.shutdown(this.#deadlineMs).then(async () => {
      this.#log.info('all workers stopped');
      await atMost(leaving, 1000);
      await atMost(steps.closeStore(), 1000);
      this.#exit(0);
    });
  }
}
