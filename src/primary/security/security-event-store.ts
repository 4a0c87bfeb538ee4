/**
 * The primary's side of the security events (issue 17): what the workers send up once a second
 * (ipc.ts `security-events`) is written into the state store, so every instance sharing it (Redis)
 * sees every instance's events, and so they reach this instance's workers as replicated records
 * (REPLICATED_NAMESPACES): GET /api/security/events and /api/ws/security read them there.
 *
 * Bounded twice: the store holds SECURITY_EVENT_PAGES pages of SECURITY_PAGE_EVENTS events in a
 * ring shared by all instances (a counter hands out page numbers; page n lives in slot n mod
 * pages, so the oldest page is the one overwritten), and one tick stores at most
 * STORED_PER_TICK events of this instance (the rest are counted as dropped). An instance keeps
 * writing the page it holds until it is full: a quiet instance does not use up the ring.
 * Per-minute counts (by tenant, category and action, every event, dropped ones too) go into
 * SECURITY_MINUTES records keyed by minute of the hour, added to under optimistic concurrency, so
 * instances add up rather than overwrite each other.
 *
 * Nothing here is on a request path; a store that is down costs the events of that time (counted
 * as dropped), never a worker's wait.
 */
import type { Logger } from '../../shared/log.js';
import {
  epochMinute,
  SECURITY_EVENT_PAGES,
  SECURITY_EVENTS_NAMESPACE,
  SECURITY_MINUTES,
  SECURITY_MINUTES_NAMESPACE,
  SECURITY_PAGE_EVENTS,
  type SecurityCount,
  type SecurityEvent,
  type SecurityEventPage,
  type SecurityMinute,
  type StoredSecurityEvent,
} from '../../shared/security-events.js';
import type { StateStore } from '../../shared/state/store.js';

export const STORED_PER_TICK = 100;
/** Events waiting for the next tick at most (a second of every worker's batches, with room). */
const MAX_PENDING = 1000;
const PAGE_COUNTER = 'next-page';
const CONFLICT_RETRIES = 3;
const TICK_MS = 1000;

interface OpenPage {
  readonly slot: string;
  readonly seq: number;
  readonly events: StoredSecurityEvent[];
  /** The record's version after our last write; undefined before the first. */
  version: number | undefined;
}

type MinuteCounts = SecurityMinute['counts'];

export class SecurityEventStore {
  readonly #store: StateStore;
  readonly #log: Logger;
  readonly #clock: () => number;
  #pending: StoredSecurityEvent[] = [];
  /** Counts not yet added to the store, by epoch minute. */
  readonly #minutes = new Map<number, { counts: MinuteCounts; dropped: number }>();
  #page: OpenPage | undefined;
  #nextId = 0;
  #busy = false;
  #failing = false;
  #timer: NodeJS.Timeout | undefined;
  /** Events this instance could not keep since it started (workers' rings, full batches, store down). */
  dropped = 0;

  constructor(store: StateStore, log: Logger, clock: () => number = Date.now) {
    this.#store = store;
    this.#log = log;
    this.#clock = clock;
  }

  /** A worker's batch (ipc.ts `security-events`). */
  add(events: readonly SecurityEvent[], dropped: number, counts: readonly SecurityCount[]): void {
    const now = this.#clock();
    const minute = this.#minute(epochMinute(now));
    for (const { tenant, category, action, count } of counts) {
      const byCategory = (minute.counts[tenant] ??= {});
      const entry = (byCategory[category] ??= { blocked: 0, detected: 0 });
      entry[action] += count;
    }
    let lost = dropped;
    for (const event of events) {
      if (this.#pending.length >= MAX_PENDING) lost++;
      else this.#pending.push({ id: `${this.#store.nodeId}-${++this.#nextId}`, ...event });
    }
    this.#lose(lost, now);
  }

  start(intervalMs = TICK_MS): void {
    this.#timer ??= setInterval(() => void this.tick(), intervalMs);
    this.#timer.unref();
  }

  /** Stores what is waiting (the last time on shutdown). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.tick();
  }

  /** Writes the events and counts waiting; one tick at a time (a slow store skips ticks, it does not stack them). */
  async tick(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const waiting = this.#pending;
      this.#pending = [];
      const events = waiting.length > STORED_PER_TICK ? waiting.slice(waiting.length - STORED_PER_TICK) : waiting;
      this.#lose(waiting.length - events.length, this.#clock());
      await this.#writeEvents(events);
      await this.#writeMinutes();
      if (this.#failing) this.#log.info('security events are stored again');
      this.#failing = false;
    } catch (err) {
      if (!this.#failing) this.#log.warn({ err: (err as Error).message }, 'could not store security events; they are counted as dropped until the state store answers');
      this.#failing = true;
    } finally {
      this.#busy = false;
    }
  }

  async #writeEvents(events: StoredSecurityEvent[]): Promise<void> {
    let conflicts = 0;
    let at = 0;
    try {
      while (at < events.length) {
        let page = this.#page;
        if (page === undefined || page.events.length >= SECURITY_PAGE_EVENTS) page = this.#page = await this.#reservePage();
        const room = SECURITY_PAGE_EVENTS - page.events.length;
        const taken = events.slice(at, at + room);
        page.events.push(...taken);
        at += taken.length;
        const value: SecurityEventPage = { node: this.#store.nodeId, seq: page.seq, events: page.events };
        try {
          const record = await this.#store.put(SECURITY_EVENTS_NAMESPACE, page.slot, value, page.version === undefined ? {} : { expectedVersion: page.version });
          page.version = record.version;
        } catch (err) {
          if ((err as { code?: string }).code !== 'VF_ERR_STATE_CONFLICT' || ++conflicts > CONFLICT_RETRIES) throw err;
          // The ring came round and a newer page took the slot: what this page held moves to a new one.
          this.#page = undefined;
          events.splice(at, 0, ...page.events);
        }
      }
    } catch (err) {
      this.#lose(events.length - at, this.#clock());
      throw err;
    }
  }

  async #reservePage(): Promise<OpenPage> {
    const seq = await this.#store.increment(SECURITY_EVENTS_NAMESPACE, PAGE_COUNTER);
    return { slot: `p${(seq - 1) % SECURITY_EVENT_PAGES}`, seq, events: [], version: undefined };
  }

  async #writeMinutes(): Promise<void> {
    const oldest = epochMinute(this.#clock()) - SECURITY_MINUTES + 1;
    for (const [minute, pending] of [...this.#minutes]) {
      if (minute < oldest) {
        this.#minutes.delete(minute);
        continue;
      }
      await this.#addToMinute(minute, pending);
      this.#minutes.delete(minute);
    }
  }

  async #addToMinute(minute: number, pending: { counts: MinuteCounts; dropped: number }): Promise<void> {
    const id = `m${minute % SECURITY_MINUTES}`;
    for (let attempt = 0; ; attempt++) {
      const record = await this.#store.get<SecurityMinute>(SECURITY_MINUTES_NAMESPACE, id);
      const current = record !== undefined && record.value.minute === minute ? record.value : { minute, counts: {}, dropped: 0 };
      const next: SecurityMinute = { minute, counts: addCounts(current.counts, pending.counts), dropped: current.dropped + pending.dropped };
      try {
        await this.#store.put(SECURITY_MINUTES_NAMESPACE, id, next, { expectedVersion: record?.version ?? 0 });
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== 'VF_ERR_STATE_CONFLICT' || attempt >= CONFLICT_RETRIES) throw err;
      }
    }
  }

  #minute(minute: number): { counts: MinuteCounts; dropped: number } {
    let entry = this.#minutes.get(minute);
    if (entry === undefined) this.#minutes.set(minute, (entry = { counts: {}, dropped: 0 }));
    return entry;
  }

  #lose(count: number, now: number): void {
    if (count <= 0) return;
    this.dropped += count;
    this.#minute(epochMinute(now)).dropped += count;
  }
}

function addCounts(a: MinuteCounts, b: MinuteCounts): MinuteCounts {
  const out: MinuteCounts = structuredClone(a);
  for (const [tenant, categories] of Object.entries(b)) {
    const into = (out[tenant] ??= {});
    for (const [category, { blocked, detected }] of Object.entries(categories)) {
      const entry = (into[category] ??= { blocked: 0, detected: 0 });
      entry.blocked += blocked;
      entry.detected += detected;
    }
  }
  return out;
}
