/**
 * What the main API answers, as the dashboard reads it. The feed shapes come from the server's own
 * declarations (src/shared/api-feed.ts, types only, nothing of the server is bundled), so a change
 * there is a compile error here instead of a silent drift. The rest mirrors the route schemas of
 * src/workers/api/routes/, which are JSON schemas rather than exported types.
 */
import type { ApiBackend, ApiHealth, ApiMetrics, ApiStatus, RealtimePoint, TrafficSummary } from '../../../src/shared/api-feed.js';
import type { StoredAlert } from '../../../src/shared/rpc.js';

export type { ApiBackend, ApiHealth, ApiMetrics, ApiNode, ApiPoolStatus, ApiStatus, RealtimePoint, TrafficSummary } from '../../../src/shared/api-feed.js';
export type { StoredAlert } from '../../../src/shared/rpc.js';

export const ROLES = ['admin', 'operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export interface User {
  id: string;
  email: string;
  name?: string;
  role: Role;
  tenant: string | null;
  createdAt: string;
  disabled?: boolean;
}

/** POST /api/auth/login and /refresh (the refresh token travels in an HttpOnly cookie, never here). */
export interface SessionAnswer {
  accessToken: string;
  expiresIn: number;
  user: User;
}

/** The backends stream (workers/api/feed-views.ts): counts for everyone, the backends for users. */
export interface BackendCounts {
  total: number;
  available: number;
  unhealthy: number;
  ejected: number;
  draining: number;
}
export interface BackendsStreamData {
  counts: BackendCounts;
  backends?: ApiBackend[];
}

export type MetricsStreamData = Omit<ApiMetrics, 'totals'> & { totals: ApiMetrics['totals'] | null; configVersion: number };
export type HealthStreamData = ApiHealth & { alerts?: StoredAlert[] };
export type StatusStreamData = ApiStatus;

/** GET /api/metrics/realtime */
export interface RealtimeAnswer {
  intervalMs: number;
  points: RealtimePoint[];
}

export interface Tenant {
  id: string;
  name: string;
  plan: string;
  limits: { requestsPerSecond?: number; monthlyRequests?: number };
  contact: { name?: string; email?: string };
  status: 'active' | 'suspended';
  createdAt: string;
  updatedAt: string;
}

/** GET /api/routes: one route as configured (more flags may come along; they are shown as they are). */
export interface RouteView {
  host: string;
  path: string;
  pool: string;
  tenant?: string;
  rateLimit?: unknown;
  redirectHttps?: boolean;
  [flag: string]: unknown;
}

/** GET /api/pools */
export interface PoolView {
  name: string;
  algorithm: string;
  backends: unknown[];
  healthCheck?: Record<string, unknown>;
  retries?: unknown;
  timeouts?: Record<string, unknown>;
  [setting: string]: unknown;
}

/** One line of GET /api/admin/logs: what pino wrote (level as a number, time in ms). */
export interface LogLine {
  level: number;
  time: number;
  msg?: string;
  [field: string]: unknown;
}


/** GET /api/billing/usage (src/workers/api/routes/billing-routes.ts); amounts in minor units. */
export interface UsageFigures {
  requests: number;
  bytesIn: number;
  bytesOut: number;
  websocketMessages: number;
  websocketSeconds: number;
}
export interface TierCharge {
  quantity: number;
  price: number;
  per: number;
  amount: number;
}
export interface UsageAnswer {
  tenant: string;
  plan: { id: string; name: string; price: number; currency: string } | null;
  period: { start: string; end: string };
  usage: UsageFigures;
  included: { requests: number; bytes: number } | null;
  overage: { requests: number; bytes: number } | null;
  costSoFar: { amount: number; currency: string; lines: { requests: TierCharge[]; bytes: TierCharge[] } } | null;
  quota: { limit: number; used: number; remaining: number; remainingShare: number; mode: 'hard' | 'soft' } | null;
  routes: Record<string, UsageFigures>;
  asOf: string;
}

/** GET /api/billing/plans */
export interface PlanView {
  id: string;
  name: string;
  price: number;
  currency: string;
  included: { requests: number; bytes: number };
  limits: { requestsPerSecond?: number; burst?: number; monthlyRequests?: number; quota: 'hard' | 'soft'; maxRoutes?: number; maxBackends?: number; websockets?: number };
}
export interface PlansAnswer {
  period: 'month' | number;
  defaultPlan: string | null;
  plans: PlanView[];
}

/** GET /api/billing/history and /api/billing/invoices/{n} (src/shared/billing/invoice.ts). */
export interface InvoiceSummary {
  number: number;
  tenant: string;
  period: { start: string; end: string };
  plan: { id: string; name: string } | null;
  total: number;
  currency: string;
  status: 'open' | 'paid' | 'void';
  issuedAt: string;
}
export interface InvoiceLine {
  kind: 'plan' | 'overage' | 'proration';
  description: string;
  metric?: 'requests' | 'bytes';
  quantity: number;
  unitPrice: number;
  per: number;
  amount: number;
}
export interface InvoiceView extends InvoiceSummary {
  lines: InvoiceLine[];
}

/** POST /api/billing/upgrade (with `preview: true`, nothing changes). */
export interface PlanSwitchAnswer {
  tenant: string;
  from: string;
  to: string;
  effective: 'now' | 'period-end';
  effectiveAt: string;
  prorations: InvoiceLine[];
  prorationTotal: number;
  currency: string;
  preview?: boolean;
}

export type { AiAnomaly, AiFeed, AiModelSummary, AiPrediction, AiSeriesPoint, AiTrainingJob } from '../../../src/shared/ai-api.js';
import type { AiAnomaly, AiModelSummary, AiTrainingJob } from '../../../src/shared/ai-api.js';

/** GET /api/ai/status (src/workers/api/routes/ai-routes.ts). */
export interface AiSeriesStatus {
  name: string;
  algorithm?: string;
  model: AiModelSummary | null;
  coverage: { have: number; needed: number; from: number | null; to: number | null } | null;
  anomalies?: AiAnomaly[];
}
export interface AiStatusView {
  pools: AiSeriesStatus[];
  routes: AiSeriesStatus[];
  anomalies: AiAnomaly[];
  training: { running: AiTrainingJob | null; last: AiTrainingJob | null; leader: boolean };
}

export type { StoredSecurityEvent } from '../../../src/shared/security-events.js';

/** GET /api/security/counts: one minute, by category (src/workers/api/security-feed.ts SecurityMinuteView). */
export interface SecurityMinuteView {
  ts: number;
  counts: Record<string, { blocked: number; detected: number }>;
  dropped: number;
}

/** GET /api/security/ip-lists */
export interface IpListsView {
  allow: string[];
  deny: string[];
  configured: { allow: string[]; deny: string[] };
  version: number;
  updatedAt: string | null;
  updatedBy: string | null;
}
