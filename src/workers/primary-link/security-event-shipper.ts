/**
 * Sends this worker's security events up to the primary (issue 17): once a second it drains the
 * ring (telemetry/security-events.ts) into one `security-events` message of at most
 * SECURITY_BATCH_EVENTS events, with how many were dropped since the last one (ring overflow plus
 * what did not fit) and the exact counts by tenant, category and action. The request path only
 * writes into the ring; nothing there waits for this. Nothing is sent while there are no events.
 */
import { workerMessage, type WorkerMessage } from '../../shared/ipc.js';
import { SECURITY_BATCH_EVENTS } from '../../shared/security-events.js';
import type { SecurityEventLog } from '../telemetry/security-events.js';

export const SHIP_INTERVAL_MS = 1000;

export class SecurityEventShipper {
  readonly #log: SecurityEventLog;
  readonly #send: (message: WorkerMessage) => void;
  readonly #maxEvents: number;
  /** The ring's dropped count at the last batch. */
  #reportedDropped = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(log: SecurityEventLog, send: (message: WorkerMessage) => void, maxEvents = SECURITY_BATCH_EVENTS) {
    this.#log = log;
    this.#send = send;
    this.#maxEvents = maxEvents;
  }

  start(intervalMs = SHIP_INTERVAL_MS): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.flush(), intervalMs);
    this.#timer.unref();
  }

  /** Sends what is waiting now (also on shutdown). */
  flush(): void {
    const drained = this.#log.drain();
    const ringDropped = this.#log.dropped - this.#reportedDropped;
    this.#reportedDropped = this.#log.dropped;
    const counts = this.#log.takeCounts();
    if (drained.length === 0 && ringDropped === 0 && counts.length === 0) return;
    // The newest are kept: they are what an operator looking now wants to see.
    const events = drained.length > this.#maxEvents ? drained.slice(drained.length - this.#maxEvents) : drained;
    this.#send(workerMessage({ type: 'security-events', events, dropped: ringDropped + drained.length - events.length, counts }));
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.flush();
  }
}
