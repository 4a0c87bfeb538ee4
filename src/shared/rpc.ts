/**
 * Calls a worker makes to its primary for what only the primary can do or knows: change the live
 * config (every change takes the ConfigController's one path), read the recent logs of every
 * process, record an alert. Each method names its parameters and result, so both sides agree.
 */

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
