/**
 * Cuts cumulative counters into one-minute buckets: fed the cluster's counters every second or so,
 * it answers, when a wall-clock minute has ended, each key's bucket for it (the difference from
 * the counters at the previous minute's end). The first minute after a start covers only the
 * seconds since then (`seconds` says how many), so a rate is never diluted by time nobody counted.
 */
import { MINUTE_MS, type SeriesBucket } from './series-bucket.js';
import type { TrafficCounts } from './traffic-counts.js';

export interface ClosedMinute {
  readonly key: string;
  readonly bucket: SeriesBucket;
}

export class MinuteBucketer {
  #baseline = new Map<string, TrafficCounts>();
  /** Start of the minute being counted; undefined before the first observation. */
  #minute: number | undefined;
  /** When counting of the current minute began (its start, or the first observation). */
  #countingSince = 0;

  /** `counts` are cumulative; returns the buckets of the minute that ended, if one did. */
  observe(now: number, counts: ReadonlyMap<string, TrafficCounts>): ClosedMinute[] {
    const minute = Math.floor(now / MINUTE_MS) * MINUTE_MS;
    if (this.#minute === undefined) {
      this.#start(minute, now, counts);
      return [];
    }
    if (minute === this.#minute) return [];
    // Counts read just after the boundary belong to the minute that ended; a stall over several
    // minutes lands in the last one counted, with the seconds it covers.
    const seconds = Math.max(1, Math.round((now - this.#countingSince) / 1000));
    const closed: ClosedMinute[] = [];
    for (const [key, c] of counts) {
      const before = this.#baseline.get(key);
      closed.push({
        key,
        bucket: {
          t: this.#minute,
          seconds,
          requests: Math.max(0, c.requests - (before?.requests ?? 0)),
          errors: Math.max(0, c.errors - (before?.errors ?? 0)),
          durations: c.durations.map((n, i) => Math.max(0, n - (before?.durations[i] ?? 0))),
        },
      });
    }
    this.#start(minute, now, counts);
    return closed;
  }

  #start(minute: number, now: number, counts: ReadonlyMap<string, TrafficCounts>): void {
    this.#minute = minute;
    this.#countingSince = now;
    this.#baseline = new Map([...counts].map(([k, c]) => [k, { ...c, durations: [...c.durations] }]));
  }
}
