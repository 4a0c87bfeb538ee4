/**
 * The security filter's events in this worker (issue 17): what was blocked or detected, by which
 * rules, where, for whom; never a whole body, cookie or credential (transaction.ts redacts).
 * A bounded ring: when nobody drains it fast enough the oldest are overwritten and counted as
 * dropped, so recording never grows memory or waits. Counts by tenant, category and action are
 * kept apart from the ring, so they stay exact when events are dropped.
 */
import type { SecurityCount, SecurityEvent } from '../../shared/security-events.js';

export type { SecurityEvent };

const CAPACITY = 256;
const PATH_CHARS = 200;

export class SecurityEventLog {
  readonly #ring: (SecurityEvent | undefined)[] = new Array<SecurityEvent | undefined>(CAPACITY);
  #next = 0;
  #size = 0;
  /** `tenant \0 category \0 action` -> events since the last takeCounts (attacks only: a few keys). */
  #counts = new Map<string, number>();
  /** Events overwritten before they were drained, since the worker started. */
  dropped = 0;

  record(event: SecurityEvent): void {
    if (this.#size === CAPACITY) this.dropped++;
    else this.#size++;
    this.#ring[this.#next] = event.path.length > PATH_CHARS ? { ...event, path: `${event.path.slice(0, PATH_CHARS)}…` } : event;
    this.#next = (this.#next + 1) % CAPACITY;
    for (const category of event.categories) {
      const key = `${event.tenant ?? ''}\u0000${category}\u0000${event.action}`;
      this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
    }
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

  /** Counts since the last call (dropped events included). */
  takeCounts(): SecurityCount[] {
    if (this.#counts.size === 0) return [];
    const out: SecurityCount[] = [];
    for (const [key, count] of this.#counts) {
      const [tenant, category, action] = key.split('\u0000') as [string, SecurityCount['category'], SecurityCount['action']];
      out.push({ tenant, category, action, count });
    }
    this.#counts = new Map();
    return out;
  }
}
