/**
 * The security filter's events as they travel (issue 17): recorded by a worker, batched up to the
 * primary once a second (ipc.ts `security-events`), kept by the primary in the state store (the
 * last SECURITY_EVENT_PAGES x SECURITY_PAGE_EVENTS, in pages, plus per-minute counts), replicated
 * down to every worker, which serves them on GET /api/security/events and /api/ws/security.
 *
 * An event names what matched and where, never what a client sent in full: snippets are short and
 * redacted (workers/security/transaction.ts), cookies and credentials are never quoted.
 */
import type { SecurityCategory } from './security-catalogue.js';

export type SecurityAction = 'blocked' | 'detected';

/** Refusals by address list have this category (no rule matched). */
export const IP_LIST_CATEGORY = 'ip-list';
export type SecurityEventCategory = SecurityCategory | typeof IP_LIST_CATEGORY;

export interface RuleMatch {
  readonly ruleId: number;
  readonly category: SecurityCategory;
  /** `query:q`, `body:post.content`, `header:user-agent`, `cookie:sid`, `path`, `request`. */
  readonly variable: string;
  /** Up to 48 characters of the normalised value; empty for cookies and credentials. */
  readonly snippet: string;
}

/** What a worker records. */
export interface SecurityEvent {
  readonly ts: number;
  readonly requestId: string;
  readonly action: SecurityAction;
  /** The route's metrics label (`host` + `path` as configured). */
  readonly route: string;
  /** The tenant owning the route; null for platform routes. */
  readonly tenant: string | null;
  readonly client: string;
  readonly method: string;
  /** Without the query; at most 200 characters. */
  readonly path: string;
  readonly score: number;
  readonly categories: readonly SecurityEventCategory[];
  readonly matches: readonly RuleMatch[];
}

/** As stored and served: with an id unique across instances (`<node>-<n>`). */
export interface StoredSecurityEvent extends SecurityEvent {
  readonly id: string;
}

/** Events per category, action and tenant ('' for platform routes) since the last report. */
export interface SecurityCount {
  readonly tenant: string;
  readonly category: SecurityEventCategory;
  readonly action: SecurityAction;
  readonly count: number;
}

/** Namespace of the event pages (`p0`..), replicated to the workers. */
export const SECURITY_EVENTS_NAMESPACE = 'security-events';
/** Namespace of the per-minute counts (`m0`..`m59`, by minute of the hour), replicated to the workers. */
export const SECURITY_MINUTES_NAMESPACE = 'security-minutes';
export const SECURITY_EVENT_PAGES = 20;
export const SECURITY_PAGE_EVENTS = 50;
/** The store keeps at most this many events (the newest). */
export const SECURITY_STORED_EVENTS = SECURITY_EVENT_PAGES * SECURITY_PAGE_EVENTS;
export const SECURITY_MINUTES = 60;

/** One page of events, written by one instance until it is full. */
export interface SecurityEventPage {
  /** The instance that writes it. */
  readonly node: string;
  /** The page's number in the ring: a higher one is newer. */
  readonly seq: number;
  readonly events: StoredSecurityEvent[];
}

/** `counts[tenant][category]` for one minute, every instance added up. */
export interface SecurityMinute {
  /** Minutes since the epoch. */
  readonly minute: number;
  readonly counts: Record<string, Record<string, { blocked: number; detected: number }>>;
  /** Events the workers or the primary could not keep (their counts are in `counts` all the same). */
  readonly dropped: number;
}

export const epochMinute = (ms: number): number => Math.floor(ms / 60_000);

/** At most this many events per worker batch (the rest are counted as dropped). */
export const SECURITY_BATCH_EVENTS = 200;
