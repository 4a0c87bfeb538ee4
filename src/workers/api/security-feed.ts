/**
 * The security events as the main API serves them (issue 17): read from this worker's replica of
 * the state store, where the primary writes every instance's events (primary/security/
 * security-event-store.ts), and published on /api/ws/security: a client gets the recent events of
 * its audience first, then each new event as its page changes, with the per-minute counts by
 * category. Tenant users see the events of their tenant's routes only; users without a tenant see
 * every event. Changes are coalesced: one publish per burst of replica changes.
 */
import {
  SECURITY_EVENTS_NAMESPACE,
  SECURITY_MINUTES,
  SECURITY_MINUTES_NAMESPACE,
  epochMinute,
  type SecurityEventPage,
  type SecurityMinute,
  type StoredSecurityEvent,
} from '../../shared/security-events.js';
import type { StateStore } from '../../shared/state/store.js';
import { ANONYMOUS, type StreamAudience } from './streams/stream-channel.js';
import type { StreamHub } from './streams/stream-hub.js';

/** Events a stream client gets when it joins. */
export const STREAM_SNAPSHOT_EVENTS = 100;
const COALESCE_MS = 50;

export interface SecurityEventQuery {
  category?: string;
  action?: string;
  route?: string;
  client?: string;
  /** ms since the epoch: events at or after it. */
  since?: number;
  /** ms since the epoch: events before it (paging back). */
  before?: number;
  limit: number;
}

/** Counts of one minute for one audience: by category, blocked and detected. */
export interface SecurityMinuteView {
  ts: number;
  counts: Record<string, { blocked: number; detected: number }>;
  dropped: number;
}

export class SecurityFeed {
  readonly #state: StateStore;
  /** Every stored event, oldest first, as last read from the replica. */
  #events: StoredSecurityEvent[] = [];
  #minutes: SecurityMinute[] = [];
  /** What was seen of each page: its number and how many events it had. */
  readonly #seen = new Map<string, { seq: number; length: number }>();
  #hub: StreamHub | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stop: (() => void) | undefined;

  constructor(state: StateStore) {
    this.#state = state;
  }

  /** Starts following the replica and publishing on the security stream. */
  attach(hub: StreamHub): void {
    this.#hub = hub;
    const offChange = this.#state.onChange((change) => {
      if (change.namespace === SECURITY_EVENTS_NAMESPACE || change.namespace === SECURITY_MINUTES_NAMESPACE) this.#schedule(true);
    });
    // A (re)sync replaces the replica without change events: read it again, nothing of it is "new".
    const offStatus = this.#state.onStatus(() => this.#schedule(false));
    this.#stop = () => {
      offChange();
      offStatus();
      clearTimeout(this.#timer);
    };
    void this.refresh(false);
  }

  detach(): void {
    this.#stop?.();
  }

  /** Events for `tenant` (null: every event), newest first. */
  async query(tenant: string | null, query: SecurityEventQuery): Promise<StoredSecurityEvent[]> {
    const { events } = await this.#read(false);
    const out: StoredSecurityEvent[] = [];
    for (let i = events.length - 1; i >= 0 && out.length < query.limit; i--) {
      const e = events[i]!;
      if (tenant !== null && e.tenant !== tenant) continue;
      if (query.since !== undefined && e.ts < query.since) break;
      if (query.before !== undefined && e.ts >= query.before) continue;
      if (query.category !== undefined && !e.categories.includes(query.category as never)) continue;
      if (query.action !== undefined && e.action !== query.action) continue;
      if (query.route !== undefined && e.route !== query.route) continue;
      if (query.client !== undefined && e.client !== query.client) continue;
      out.push(e);
    }
    return out;
  }

  /** The last hour's counts for `tenant` (null: everyone), oldest first. */
  async minutes(tenant: string | null, now = Date.now()): Promise<SecurityMinuteView[]> {
    const { minutes } = await this.#read(false);
    return minutesView(minutes, tenant, now);
  }

  /** Reads the replica; with `live`, publishes the events not seen before as an update. */
  async refresh(live: boolean): Promise<void> {
    const { events, minutes, fresh } = await this.#read(true);
    this.#events = events;
    this.#minutes = minutes;
    const hub = this.#hub;
    if (hub === undefined) return;
    const now = Date.now();
    const added = live ? fresh : [];
    hub.publish(
      'security',
      (audience) => (audience === ANONYMOUS ? undefined : { kind: 'events', events: ofAudience(added, audience), minutes: minutesView(minutes, audience, now) }),
      (audience) => (audience === ANONYMOUS ? undefined : { kind: 'snapshot', events: ofAudience(this.#events, audience, STREAM_SNAPSHOT_EVENTS), minutes: minutesView(minutes, audience, now) }),
    );
  }

  #schedule(live: boolean): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.refresh(live);
    }, COALESCE_MS);
    this.#timer.unref();
  }

  /** `track`: remember what was seen, so the next tracked read tells what is new since. */
  async #read(track: boolean): Promise<{ events: StoredSecurityEvent[]; minutes: SecurityMinute[]; fresh: StoredSecurityEvent[] }> {
    const pages = [...(await this.#state.list<SecurityEventPage>(SECURITY_EVENTS_NAMESPACE)).entries()];
    const events: StoredSecurityEvent[] = [];
    const fresh: StoredSecurityEvent[] = [];
    for (const [slot, { value: page }] of pages) {
      events.push(...page.events);
      const seen = this.#seen.get(slot);
      const from = seen === undefined || seen.seq !== page.seq ? 0 : seen.length;
      if (from < page.events.length) fresh.push(...page.events.slice(from));
      if (track) this.#seen.set(slot, { seq: page.seq, length: page.events.length });
    }
    events.sort(byTime);
    fresh.sort(byTime);
    const minutes = [...(await this.#state.list<SecurityMinute>(SECURITY_MINUTES_NAMESPACE)).values()].map((r) => r.value);
    return { events, minutes, fresh };
  }
}

function byTime(a: StoredSecurityEvent, b: StoredSecurityEvent): number {
  return a.ts - b.ts;
}

/** The events an audience may see (its tenant's, or all for null), the newest `limit`, oldest first. */
function ofAudience(events: readonly StoredSecurityEvent[], audience: StreamAudience, limit = Number.POSITIVE_INFINITY): StoredSecurityEvent[] {
  const out: StoredSecurityEvent[] = [];
  for (let i = events.length - 1; i >= 0 && out.length < limit; i--) {
    const e = events[i]!;
    if (audience === null || e.tenant === audience) out.push(e);
  }
  return out.reverse();
}

function minutesView(minutes: readonly SecurityMinute[], audience: StreamAudience, now: number): SecurityMinuteView[] {
  const oldest = epochMinute(now) - SECURITY_MINUTES + 1;
  const out: SecurityMinuteView[] = [];
  for (const m of minutes) {
    if (m.minute < oldest) continue;
    const counts: SecurityMinuteView['counts'] = {};
    for (const [tenant, categories] of Object.entries(m.counts)) {
      if (audience !== null && tenant !== audience) continue;
      for (const [category, { blocked, detected }] of Object.entries(categories)) {
        const entry = (counts[category] ??= { blocked: 0, detected: 0 });
        entry.blocked += blocked;
        entry.detected += detected;
      }
    }
    // How many events were lost is the platform's concern: it names no tenant.
    out.push({ ts: m.minute * 60_000, counts, dropped: audience === null ? m.dropped : 0 });
  }
  return out.sort((a, b) => a.ts - b.ts);
}
