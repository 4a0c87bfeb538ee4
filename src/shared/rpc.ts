/**
 * Calls a worker makes to its primary for what only the primary can do or knows: change the live
 * config (every change takes the ConfigController's one path), read the recent logs of every
 * process, record an alert. Each method names its parameters and result, so both sides agree.
 */

import type { AiAnomaly, AiModelSummary, AiPrediction, AiSeriesPoint, AiTrainingJob } from './ai-api.js';

export interface BackendSpec {
  id: string;
  url: string;
  weight?: number;
  drain?: boolean;
}

/** Who asks the main API for a backend, for the backend address policy (issue 14). */
export interface AddressCheckRequest {
  /** The tenant of the user who asked; null for a platform user. */
  readonly requesterTenant: string | null;
  /** A platform admin's explicit override: the policy is not applied to this backend (audited). */
  readonly allowUnsafeAddress: boolean;
}

/** What a config change through the primary answers (the admin API's ChangeResult). */
export interface ChangeSummary {
  configVersion: number;
  etag: string;
  needsRestart: string[];
  skipped: string[];
}

export interface LogQuery {
  /** Minimum level name (info, warn, error, ...). */
  level?: string;
  limit?: number;
  /** ISO time: only lines after it. */
  since?: string;
}

/** Who asked, for the audit log: the API user and the client address. */
export interface ApiActor {
  user: string;
  address: string;
}

export interface RpcMethods {
  'backends.add': { params: { pool: string; backend: BackendSpec; actor: ApiActor; addressCheck: AddressCheckRequest }; result: ChangeSummary };
  'backends.update': { params: { id: string; weight?: number; drain?: boolean; actor: ApiActor }; result: ChangeSummary };
  'backends.remove': { params: { id: string; actor: ApiActor }; result: ChangeSummary };
  'logs.recent': { params: LogQuery; result: { lines: Record<string, unknown>[]; dropped: number } };
  'alerts.record': { params: { payload: unknown; receivedBy: string }; result: { stored: number } };
  'alerts.list': { params: { limit?: number }; result: { alerts: StoredAlert[] } };
  /** AI (issue 18): `keys` are the series keys the asking user may see (the worker scopes them). */
  'ai.status': { params: { keys: string[] }; result: AiStatusAnswer };
  'ai.models': { params: { keys: string[] }; result: { models: AiModelSummary[] } };
  'ai.predictions': { params: { key: string; horizon: number }; result: AiPrediction };
  'ai.series': { params: { key: string; resolution: 'minute' | 'hour' }; result: { key: string; resolution: 'minute' | 'hour'; points: AiSeriesPoint[] } };
  'ai.train': { params: { by: string }; result: AiTrainingJob };
  'ai.job': { params: { id: string }; result: AiTrainingJob };
}

export type RpcMethod = keyof RpcMethods;

/** One alert as Alertmanager's webhook sends it, with when VeloFlux received it. */
export interface StoredAlert {
  receivedAt: string;
  status: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt?: string;
  endsAt?: string;
  fingerprint?: string;
}

/** GET /api/ai/status from the primary: per series key its model and data coverage. */
export interface AiStatusAnswer {
  series: Record<string, { model: AiModelSummary | null; coverage: { have: number; needed: number; from: number | null; to: number | null } }>;
  anomalies: AiAnomaly[];
  training: { running: AiTrainingJob | null; last: AiTrainingJob | null; leader: boolean };
}
