/**
 * Billing events for an external billing system (issue 16): `invoice.closed`, `plan.changed`,
 * `plan.change_scheduled`, `quota.warning` (80% and 100% of a request quota, hard or soft).
 *
 * Whoever makes the event (the leader closing a period, a worker answering an upgrade) writes it
 * to the outbox, namespace `billing-outbox`, id = the event id; the leader's WebhookSender posts
 * every one in it to `billing.webhook.url` and deletes it once the receiver answers 2xx, retrying
 * with exponential backoff otherwise. The outbox is in the state store, so a restart (or another
 * instance taking the lead) sends what is left: delivery is at least once, and receivers
 * deduplicate by `id`. Ids are derived from what happened (an invoice number, a tenant and
 * threshold and period), so making the same event twice enqueues it once.
 *
 * Wire format: body `{"id","type","created","data"}` (created: Unix seconds), the same bytes on
 * every attempt; header `VeloFlux-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
 * "<t>.<body>")>`, as Stripe signs (t is the attempt's time: receivers reject old ones to stop
 * replays), plus `VeloFlux-Event-Id` and `VeloFlux-Event-Type`.
 */
import { createHmac } from 'node:crypto';
import type { BillingConfig } from '../config/schema.js';
import type { StateStore } from '../state/store.js';

export const BILLING_OUTBOX_NAMESPACE = 'billing-outbox';

export const BILLING_EVENT_TYPES = ['invoice.closed', 'plan.changed', 'plan.change_scheduled', 'quota.warning'] as const;
export type BillingEventType = (typeof BILLING_EVENT_TYPES)[number];

export interface PendingBillingEvent {
  id: string;
  type: BillingEventType;
  /** The exact body posted on every attempt. */
  body: string;
  createdAt: number;
  attempts: number;
  /** ms since epoch. */
  nextAttemptAt: number;
  lastError?: string;
}

/** Ids may only hold what an HTTP header and a state id take without escaping. */
export const billingEventId = (...parts: (string | number)[]): string => `evt_${parts.map((p) => String(p).replace(/[^A-Za-z0-9._-]/g, '_')).join('_')}`;

/**
 * Puts the event in the outbox unless one with its id is there already; does nothing without a
 * configured webhook. Resolves true when it was enqueued now.
 */
export async function enqueueBillingEvent(store: StateStore, billing: BillingConfig, id: string, type: BillingEventType, data: unknown, now: number = Date.now()): Promise<boolean> {
  if (billing.webhook === undefined) return false;
  const body = JSON.stringify({ id, type, created: Math.floor(now / 1000), data });
  const event: PendingBillingEvent = { id, type, body, createdAt: now, attempts: 0, nextAttemptAt: now };
  try {
    await store.put(BILLING_OUTBOX_NAMESPACE, id, event, { expectedVersion: 0 });
    return true;
  } catch (err) {
    if ((err as { code?: unknown }).code === 'VF_ERR_STATE_CONFLICT') return false;
    throw err;
  }
}

/** The `VeloFlux-Signature` header value for `body` sent at `t` (Unix seconds). */
export function signatureHeader(secret: string, t: number, body: string): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}
