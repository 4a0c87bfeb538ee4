/**
 * What workers and the primary exchange to hold a rate limit globally (src/workers/rate-limit/,
 * src/primary/rate-limit/): demand flows up (`rate-usage`), shares of the global rate flow down
 * (`rate-shares`). Keys are opaque here: a worker namespaces them (`ip:...`, `h:...`) and the
 * primary only compares them.
 */

/** Each worker reports, and the primary answers, on this cadence. */
export const RATE_LIMIT_TICK_MS = 100;

/**
 * Keys per policy in one report or one shares message: the busiest ones. Keys beyond this keep
 * the default share, so a flood of distinct keys costs bounded IPC and cannot crowd out the
 * keys that carry the traffic.
 */
export const MAX_COORDINATED_KEYS = 2000;

/** A share not renewed for this long is dropped: the key falls back to the default share. */
export const SHARE_TTL_MS = 1000;

/** Requests seen per key (allowed or refused) since the previous report; parallel arrays. */
export interface RateUsage {
  readonly policy: string;
  readonly keys: string[];
  readonly demand: number[];
}

/** The fraction of the policy's global rate and burst this worker may use, per key; parallel arrays. */
export interface RateShares {
  readonly policy: string;
  readonly keys: string[];
  readonly shares: number[];
}
