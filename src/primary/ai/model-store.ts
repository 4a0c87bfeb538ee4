/**
 * Forecast models in the state store (namespace `ai-models`, one versioned record per series
 * key): the leader writes what a training job produced, every instance reads the same records, so
 * a second instance on Redis serves the model the leader trained. The record's store version is
 * the model version.
 */
import type { AiModelSummary } from '../../shared/ai-api.js';
import type { StateStore } from '../../shared/state/store.js';
import type { TrainedSeries } from './training-task.js';

export const MODELS_NAMESPACE = 'ai-models';

/** What is stored: the summary the API lists, and what forecasting needs. */
export interface ModelRecord extends Omit<AiModelSummary, 'version'> {
  /** Start of the last minute the model saw. */
  readonly lastT: number;
  readonly fitted?: NonNullable<TrainedSeries['result']>;
}

export interface StoredModel {
  readonly version: number;
  readonly record: ModelRecord;
}

export function summaryOf(model: StoredModel): AiModelSummary {
  const { fitted: _fitted, lastT: _lastT, ...summary } = model.record;
  return { ...summary, version: model.version };
}

export class ModelStore {
  readonly #store: StateStore;

  constructor(store: StateStore) {
    this.#store = store;
  }

  async get(key: string): Promise<StoredModel | undefined> {
    const r = await this.#store.get<ModelRecord>(MODELS_NAMESPACE, key);
    return r === undefined ? undefined : { version: r.version, record: r.value };
  }

  async list(): Promise<StoredModel[]> {
    return [...(await this.#store.list<ModelRecord>(MODELS_NAMESPACE)).values()].map((r) => ({ version: r.version, record: r.value }));
  }

  async put(record: ModelRecord): Promise<number> {
    return (await this.#store.put(MODELS_NAMESPACE, record.key, record)).version;
  }
}

/** The record a training outcome becomes. */
export function recordOf(trained: TrainedSeries, period: number, job: string, trainedAt: string): ModelRecord {
  const base = { key: trained.key, trainedAt, metric: 'requests_per_second', resolution: 'minute', period, have: trained.have, needed: trained.needed, job, lastT: trained.lastT } as const;
  if (trained.result === undefined) return { ...base, status: 'insufficient_data' };
  const { state, holdout, used } = trained.result;
  return { ...base, status: 'trained', parameters: state.parameters, holdout, serving: used ? 'holt_winters' : 'seasonal_naive', fitted: trained.result };
}
