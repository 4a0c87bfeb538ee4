/**
 * How long a traffic series is kept: minutes for a day (enough for the minute model's four hourly
 * seasons), then folded into hours, kept for 14 days (enough for four daily seasons of the hour
 * model). A stored series is bounded: at most MINUTES_KEPT + HOURS_KEPT buckets.
 */
import { HOUR_MS, MINUTE_MS, mergeBuckets, type SeriesBucket } from './series-bucket.js';

export const MINUTE_RETENTION_MS = 24 * HOUR_MS;
export const HOUR_RETENTION_MS = 14 * 24 * HOUR_MS;

/** One series as stored: both resolutions, oldest first. */
export interface StoredSeries {
  readonly minutes: SeriesBucket[];
  readonly hours: SeriesBucket[];
}

export const emptySeries = (): StoredSeries => ({ minutes: [], hours: [] });

/**
 * Adds a closed minute (a copy; the input is not changed), folds minutes older than the minute
 * retention into their hour, and drops hours older than the hour retention.
 */
export function appendMinute(series: StoredSeries, bucket: SeriesBucket, now: number): StoredSeries {
  const minutes = series.minutes.filter((m) => m.t !== bucket.t);
  minutes.push(bucket);
  minutes.sort((a, b) => a.t - b.t);
  const hours = [...series.hours];
  const minuteCutoff = now - MINUTE_RETENTION_MS;
  while (minutes.length > 0 && minutes[0]!.t < minuteCutoff) {
    const old = minutes.shift()!;
    const hour = Math.floor(old.t / HOUR_MS) * HOUR_MS;
    const last = hours.at(-1);
    if (last !== undefined && last.t === hour) hours[hours.length - 1] = mergeBuckets(hour, [last, old]);
    else hours.push(mergeBuckets(hour, [old]));
  }
  const hourCutoff = now - HOUR_RETENTION_MS;
  while (hours.length > 0 && hours[0]!.t < hourCutoff) hours.shift();
  return { minutes, hours };
}

/** Every hour of the series: the folded hours, then the minutes still kept, added up by hour. */
export function hourly(series: StoredSeries): SeriesBucket[] {
  const byHour = new Map<number, SeriesBucket[]>();
  for (const b of [...series.hours, ...series.minutes]) {
    const hour = Math.floor(b.t / HOUR_MS) * HOUR_MS;
    let list = byHour.get(hour);
    if (list === undefined) byHour.set(hour, (list = []));
    list.push(b);
  }
  return [...byHour].sort(([a], [b]) => a - b).map(([hour, list]) => mergeBuckets(hour, list));
}

/**
 * The newest run of buckets with no gap (each `step` after the one before). A model needs a
 * regular series, and a minute VeloFlux did not count is unknown, not zero: it is never filled in.
 */
export function contiguousTail(buckets: readonly SeriesBucket[], step: number = MINUTE_MS): SeriesBucket[] {
  let start = buckets.length - 1;
  while (start > 0 && buckets[start]!.t - buckets[start - 1]!.t === step) start--;
  return buckets.slice(Math.max(0, start));
}
