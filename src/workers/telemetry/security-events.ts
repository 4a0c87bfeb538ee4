/**
 * The security filter's events in this worker (issue 17): what was blocked or detected, by which
 * rules, where, for whom; never a whole body, cookie or credential (transaction.ts redacts).
 * A bounded ring: when nobody drains it fast enough the oldest are overwritten and counted as
 * dropped, so recording never grows memory or waits.
 */
import type { RuleMatch } from '../security/transaction.js';

export interface SecurityEvent {
  readonly ts: number;
  readonly requestId: string;
  readonly action: 'blocked' | 'detected';
  readonly route: string;
  readonly client: string;
  readonly method: string;
  readonly path: string;
  readonly score: number;
  readonly categories: readonly string[];
  readonly matches: readonly RuleMatch[];
}

const CAPACITY = 256;
const PATH_CHARS = 200;

export class SecurityEventLog {
  readonly #ring: (SecurityEvent | undefined)[] = new Array<SecurityEvent | undefined>(CAPACITY);
  #next = 0;
  #size = 0;
  /** Events overwritten before they were drained, since the worker started. */
  dropped = 0;

  record(event: SecurityEvent): void {
    if (this.#size === CAPACITY) this.dropped++;
    else this.#size++;
    this.#ring[this.#next] = event.path.length > PATH_CHARS ? { ...event, path: `${event.path.slice(0, PATH_CHARS)}…` } : event;
    this.#next = (this.#next + 1) % CAPACITY;
  }

  /** The events recorded since the last drain, oldest first. */
  drain(): SecurityEvent[] {
    const out: SecurityEvent[] = [];
    const start = (this.#next - this.#size + CAPACITY) % CAPACITY;
    for (let i = 0; i < this.#size; i++) {
      const at = (start + i) % CAPACITY;
      out.push(this.#ring[at]!);
      this.#ring[at] = undefined;
    }
    this.#size = 0;
    return out;
  }
}
