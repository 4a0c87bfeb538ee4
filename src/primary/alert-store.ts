/**
 * Alerts Alertmanager delivered to POST /api/alerts/webhook, newest last, bounded: the main API
 * lists them and the health stream pushes the newest. Memory only, per instance: Alertmanager
 * keeps re-sending firing alerts (repeat_interval), so a restart loses nothing that still matters.
 */
import type { StoredAlert } from '../shared/rpc.js';

const KEEP = 500;

interface WebhookAlert {
  status?: unknown;
  labels?: unknown;
  annotations?: unknown;
  startsAt?: unknown;
  endsAt?: unknown;
  fingerprint?: unknown;
}

function strings(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null) return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

export class AlertStore {
  readonly #alerts: StoredAlert[] = [];

  /** Stores every alert of one webhook delivery (Alertmanager's payload, already shape-checked by the API). */
  record(payload: { alerts?: unknown }): number {
    const receivedAt = new Date().toISOString();
    const alerts = Array.isArray(payload.alerts) ? (payload.alerts as WebhookAlert[]) : [];
    for (const alert of alerts) {
      this.#alerts.push({
        receivedAt,
        status: typeof alert.status === 'string' ? alert.status : 'unknown',
        labels: strings(alert.labels),
        annotations: strings(alert.annotations),
        ...(typeof alert.startsAt === 'string' ? { startsAt: alert.startsAt } : {}),
        ...(typeof alert.endsAt === 'string' ? { endsAt: alert.endsAt } : {}),
        ...(typeof alert.fingerprint === 'string' ? { fingerprint: alert.fingerprint } : {}),
      });
    }
    if (this.#alerts.length > KEEP) this.#alerts.splice(0, this.#alerts.length - KEEP);
    return alerts.length;
  }

  newest(limit: number): StoredAlert[] {
    return this.#alerts.slice(-limit);
  }
}
