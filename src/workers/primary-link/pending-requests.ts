/**
 * Requests a worker sends to the primary and the answers it waits for, matched by id. A primary
 * that does not answer in time fails the request with VF_ERR_STATE_UNAVAILABLE-like errors the
 * caller chooses, so nothing in a worker ever waits on the primary without a bound.
 */
import { VelofluxError, errorFromWire, type ErrorCode, type WireError } from '../../shared/errors.js';

interface Waiting {
  resolve(result: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class PendingRequests {
  readonly #waiting = new Map<number, Waiting>();
  readonly #timeoutMs: number;
  readonly #timeoutCode: ErrorCode;
  #nextId = 1;

  constructor(timeoutMs: number, timeoutCode: ErrorCode) {
    this.#timeoutMs = timeoutMs;
    this.#timeoutCode = timeoutCode;
  }

  /** Registers a request, hands its id to `send`, and resolves with the answer. */
  start(what: string, send: (requestId: number) => void): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const requestId = this.#nextId++;
      const timer = setTimeout(() => {
        this.#waiting.delete(requestId);
        reject(new VelofluxError(this.#timeoutCode, `the primary did not answer ${what} within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#waiting.set(requestId, { resolve, reject, timer });
      send(requestId);
    });
  }

  /**
   * The primary's answer: a result, or an error rebuilt from its wire form (code kept, so the API
   * answers with the right status; a config error's problems kept, so it can list them).
   */
  settle(requestId: number, result: unknown, error: WireError | undefined): void {
    const waiting = this.#waiting.get(requestId);
    if (waiting === undefined) return;
    this.#waiting.delete(requestId);
    clearTimeout(waiting.timer);
    if (error === undefined) waiting.resolve(result);
    else waiting.reject(errorFromWire(error));
  }

  /** Fails everything still waiting (the worker is stopping). */
  failAll(message: string): void {
    for (const [id, waiting] of this.#waiting) {
      clearTimeout(waiting.timer);
      waiting.reject(new VelofluxError(this.#timeoutCode, message));
      this.#waiting.delete(id);
    }
  }
}
