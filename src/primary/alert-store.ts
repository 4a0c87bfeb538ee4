/**
 * Alerts Alertmanager delivered to POST /api/alerts/webhook and anomalies VeloFlux detected, newest last, bounded: the main API
 * lists them and the health stream pushes the newest. Memory only, per instance: Alertmanager
 * keeps re-sending firing alerts (repeat_interval), so a restart loses nothing that still matters.
 */
import type { AiAnomaly } from '../shared/ai-api.js';
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

  /**
   * An anomaly VeloFlux detected itself (ai/anomaly-detector.ts), in Alertmanager's shape so one
   * list holds both: firing when it starts, resolved when it ends, one fingerprint for the two.
   */
  recordAnomaly(anomaly: AiAnomaly): void {
    this.#alerts.push({
      receivedAt: new Date().toISOString(),
      status: anomaly.endedAt === undefined ? 'firing' : 'resolved',
      labels: {
        alertname: 'VelofluxAnomaly',
        source: 'veloflux-ai',
        kind: anomaly.kind,
        pool: anomaly.pool,
        ...(anomaly.backend !== undefined ? { backend: anomaly.backend } : {}),
        ...(anomaly.route !== undefined ? { route: anomaly.route } : {}),
      },
      annotations: {
        summary: `${anomaly.kind} of ${anomaly.backend ?? anomaly.route ?? anomaly.pool}: ${anomaly.observed} ${anomaly.unit} observed, ${anomaly.expected} expected (robust z ${anomaly.score})`,
        observed: String(anomaly.observed),
        expected: String(anomaly.expected),
        score: String(anomaly.score),
      },
      startsAt: anomaly.since,
      ...(anomaly.endedAt !== undefined ? { endsAt: anomaly.endedAt } : {}),
      fingerprint: anomaly.id,
    });
    if (this.#alerts.length > KEEP) this.#alerts.splice(0, this.#alerts.length - KEEP);
  }

  newest(limit: number): StoredAlert[] {
    return this.#alerts.slice(-limit);
  }
}
