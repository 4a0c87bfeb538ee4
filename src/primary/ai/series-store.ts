/**
 * Traffic series in the state store (namespace `ai-series`, one record per series key, encoded
 * compactly: series-codec.ts), so a restart or another instance sharing Redis reads the same
 * history. Only the writer (embedded: this instance; Redis: the leader) appends; everyone reads.
 */
import type { StateStore } from '../../shared/state/store.js';
import type { ClosedMinute } from './minute-bucketer.js';
import { decodeSeries, encodeSeries, type EncodedSeries } from './series-codec.js';
import { appendMinute, emptySeries, type StoredSeries } from './series-retention.js';

export const SERIES_NAMESPACE = 'ai-series';

export class SeriesStore {
  readonly #store: StateStore;

  constructor(store: StateStore) {
    this.#store = store;
  }

  async get(key: string): Promise<StoredSeries | undefined> {
    return decodeSeries((await this.#store.get<EncodedSeries>(SERIES_NAMESPACE, key))?.value);
  }

  async keys(): Promise<string[]> {
    return [...(await this.#store.list(SERIES_NAMESPACE)).keys()];
  }

  /** Replaces a whole series (imports; appends go through `append`). */
  async put(key: string, series: StoredSeries): Promise<void> {
    await this.#store.put(SERIES_NAMESPACE, key, encodeSeries(series));
  }

  /** Appends each key's closed minute to its series (written one key after the other, so a burst is bounded). */
  async append(closed: readonly ClosedMinute[], now: number): Promise<void> {
    for (const { key, bucket } of closed) await this.put(key, appendMinute((await this.get(key)) ?? emptySeries(), bucket, now));
  }
}
