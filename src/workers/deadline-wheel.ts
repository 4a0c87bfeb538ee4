/**
 * One coarse shared timer for every request deadline in a worker (as undici's `lib/util/timers`),
 * instead of a setTimeout per request. Deadlines fire within one tick (250 ms) after they pass.
 */
export interface Expirable {
  /** Absolute time (performance.now() ms) after which `expire()` is called. */
  deadline: number;
  expire(): void;
}

const TICK_MS = 250;

export class DeadlineWheel {
  readonly #entries = new Set<Expirable>();
  #timer: NodeJS.Timeout | undefined;

  add(entry: Expirable): void {
    this.#entries.add(entry);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#tick(), TICK_MS);
      this.#timer.unref();
    }
  }

  delete(entry: Expirable): void {
    this.#entries.delete(entry);
  }

  #tick(): void {
    if (this.#entries.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    const now = performance.now();
    for (const entry of this.#entries) {
      if (entry.deadline <= now) {
        this.#entries.delete(entry);
        entry.expire();
      }
    }
  }
}
