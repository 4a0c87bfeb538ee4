/**
 * How a stored series is written: each resolution as one compact string, one bucket per
 * space-separated field `t:seconds:requests:errors:d0,d1,...`. A day of minutes as JSON objects is
 * ~17,000 buckets' worth of numbers per series; the embedded store pretty-prints its namespace
 * file on every write and clones every value it stores, which for sixteen such series measured
 * ~80 ms of blocked event loop a minute. A string costs a copy instead.
 */
import type { SeriesBucket } from './series-bucket.js';
import type { StoredSeries } from './series-retention.js';

export const SERIES_FORMAT = 1;

export interface EncodedSeries {
  readonly format: typeof SERIES_FORMAT;
  readonly minutes: string;
  readonly hours: string;
}

export function encodeSeries(series: StoredSeries): EncodedSeries {
  return { format: SERIES_FORMAT, minutes: encodeBuckets(series.minutes), hours: encodeBuckets(series.hours) };
}

/** undefined for a record this version cannot read (it is then started afresh). */
export function decodeSeries(encoded: EncodedSeries | undefined): StoredSeries | undefined {
  if (encoded?.format !== SERIES_FORMAT || typeof encoded.minutes !== 'string' || typeof encoded.hours !== 'string') return undefined;
  return { minutes: decodeBuckets(encoded.minutes), hours: decodeBuckets(encoded.hours) };
}

function encodeBuckets(buckets: readonly SeriesBucket[]): string {
  return buckets.map((b) => `${b.t}:${b.seconds}:${b.requests}:${b.errors}:${b.durations.join(',')}`).join(' ');
}

function decodeBuckets(text: string): SeriesBucket[] {
  if (text === '') return [];
  return text.split(' ').map((field) => {
    const [t, seconds, requests, errors, durations] = field.split(':');
    return { t: Number(t), seconds: Number(seconds), requests: Number(requests), errors: Number(errors), durations: durations === '' || durations === undefined ? [] : durations.split(',').map(Number) };
  });
}
