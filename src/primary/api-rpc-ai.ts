/**
 * What the primary answers to the main API's AI calls (shared/rpc.ts): status, models,
 * predictions and series read the state store (so every instance answers the same); training
 * starts a job on this instance when it is the leader. Which keys a user may ask about is the
 * worker's decision (tenant scoping); an unknown key here is a series with no data yet.
 */
import { VelofluxError } from '../shared/errors.js';
import type { AiStatusAnswer } from '../shared/rpc.js';
import type { AiAnomaly } from '../shared/ai-api.js';
import { summaryOf, type ModelStore } from './ai/model-store.js';
import type { Predictor } from './ai/predictor.js';
import { pointOf } from './ai/series-bucket.js';
import { hourly } from './ai/series-retention.js';
import type { SeriesStore } from './ai/series-store.js';
import type { Trainer } from './ai/trainer.js';
import type { WorkerRpc } from './worker-rpc.js';

export interface AiParts {
  readonly series: SeriesStore;
  readonly models: ModelStore;
  readonly predictor: Predictor;
  readonly trainer: Trainer;
  /** Every anomaly going on now (ai-monitor.ts). */
  readonly anomalies: { active(): AiAnomaly[] };
  readonly isLeader: () => boolean;
}

export function handleAiCalls(rpc: WorkerRpc, ai: AiParts): void {
  rpc
    .handle('ai.status', async ({ keys }) => {
      const series: AiStatusAnswer['series'] = {};
      for (const key of keys) {
        const model = await ai.models.get(key);
        series[key] = { model: model === undefined ? null : summaryOf(model), coverage: await ai.predictor.coverage(key) };
      }
      return {
        series,
        anomalies: ai.anomalies.active(),
        training: { running: ai.trainer.running ?? null, last: ai.trainer.last ?? null, leader: ai.isLeader() },
      };
    })
    .handle('ai.models', async ({ keys }) => {
      const wanted = new Set(keys);
      return { models: (await ai.models.list()).filter((m) => wanted.has(m.record.key)).map(summaryOf).sort((a, b) => a.key.localeCompare(b.key)) };
    })
    .handle('ai.predictions', ({ key, horizon }) => ai.predictor.predict(key, horizon))
    .handle('ai.series', async ({ key, resolution }) => {
      const stored = await ai.series.get(key);
      const buckets = stored === undefined ? [] : resolution === 'minute' ? stored.minutes : hourly(stored);
      return { key, resolution, points: buckets.map(pointOf) };
    })
    .handle('ai.train', async ({ by }) => ai.trainer.start(by))
    .handle('ai.job', async ({ id }) => {
      const job = ai.trainer.job(id);
      if (job === undefined) throw new VelofluxError('VF_ERR_NOT_FOUND', `no training job "${id}" on this instance`);
      return { ...job };
    });
}
