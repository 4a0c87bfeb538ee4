/**
 * Posts the billing outbox (shared/billing/billing-events.ts) to `billing.webhook.url`, on the
 * leader only, once a tick: every event due is sent, oldest first, signed with the secret from the
 * environment variable `billing.webhook.secretEnv`. A 2xx answer deletes it; anything else (or no
 * answer within `timeout`) schedules the next attempt after 1 s x 2^(attempts - 1), at most
 * MAX_BACKOFF_MS, with up to 20% jitter so many events do not retry in lockstep. An event still
 * undelivered GIVE_UP_MS after it was made is dropped with an error in the log. Without a secret
 * events go unsigned, with a warning (the receiver cannot tell them from forgeries).
 */
import type { Logger } from '../../shared/log.js';
import type { VelofluxConfig } from '../../shared/config/schema.js';
import type { StateStore } from '../../shared/state/store.js';
import { BILLING_OUTBOX_NAMESPACE, signatureHeader, type PendingBillingEvent } from '../../shared/billing/billing-events.js';

export const BASE_BACKOFF_MS = 1000;
export const MAX_BACKOFF_MS = 3600_000;
/** Three days, as Stripe retries. */
export const GIVE_UP_MS = 3 * 86_400_000;

export interface WebhookSenderSources {
  readonly store: StateStore;
  config(): Readonly<VelofluxConfig>;
  isLeader(): boolean;
  /** The environment (the secret is read from it). */
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
}

export function backoffMs(attempts: number, random: number = Math.random()): number {
  const base = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (1 + 0.2 * random));
}

export class WebhookSender {
  readonly #sources: WebhookSenderSources;
  #running = false;
  #warnedUnsigned = false;

  constructor(sources: WebhookSenderSources) {
    this.#sources = sources;
  }

  async tick(now: number = Date.now()): Promise<void> {
    const webhook = this.#sources.config().billing.webhook;
    if (webhook === undefined || this.#running || !this.#sources.isLeader()) return;
    this.#running = true;
    try {
      const outbox = await this.#sources.store.list<PendingBillingEvent>(BILLING_OUTBOX_NAMESPACE);
      const due = [...outbox.values()].filter((r) => r.value.nextAttemptAt <= now).sort((a, b) => a.value.createdAt - b.value.createdAt);
      for (const record of due) await this.#deliver(record.value, record.version, webhook);
    } catch (err) {
      this.#sources.log.warn({ err: (err as Error).message }, 'could not read the billing outbox; trying again on the next tick');
    } finally {
      this.#running = false;
    }
  }

  async #deliver(event: PendingBillingEvent, version: number, webhook: NonNullable<VelofluxConfig['billing']['webhook']>): Promise<void> {
    const { store, log } = this.#sources;
    const secret = this.#sources.env[webhook.secretEnv];
    if ((secret === undefined || secret === '') && !this.#warnedUnsigned) {
      this.#warnedUnsigned = true;
      log.warn({ env: webhook.secretEnv }, 'billing webhook secret not set: events are sent unsigned');
    }
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'VeloFlux-Billing', 'veloflux-event-id': event.id, 'veloflux-event-type': event.type };
    if (secret !== undefined && secret !== '') headers['veloflux-signature'] = signatureHeader(secret, Math.floor(Date.now() / 1000), event.body);
    let failure: string | undefined;
    try {
      const res = await fetch(webhook.url, { method: 'POST', headers, body: event.body, signal: AbortSignal.timeout(webhook.timeout), redirect: 'manual' });
      await res.arrayBuffer().catch(() => {});
      if (res.status < 200 || res.status >= 300) failure = `answered ${res.status}`;
    } catch (err) {
      failure = (err as Error).message;
    }
    try {
      if (failure === undefined) {
        await store.delete(BILLING_OUTBOX_NAMESPACE, event.id, { expectedVersion: version });
        log.info({ event: event.id, type: event.type, attempts: event.attempts + 1 }, 'billing event delivered');
        return;
      }
      const now = Date.now();
      if (now - event.createdAt > GIVE_UP_MS) {
        await store.delete(BILLING_OUTBOX_NAMESPACE, event.id, { expectedVersion: version });
        log.error({ event: event.id, type: event.type, attempts: event.attempts + 1, err: failure }, 'billing event dropped: not delivered in 3 days');
        return;
      }
      const attempts = event.attempts + 1;
      const next: PendingBillingEvent = { ...event, attempts, nextAttemptAt: now + backoffMs(attempts), lastError: failure };
      await store.put(BILLING_OUTBOX_NAMESPACE, event.id, next, { expectedVersion: version });
      log.warn({ event: event.id, type: event.type, attempts, retryInMs: next.nextAttemptAt - now, err: failure }, 'billing event not delivered; will retry');
    } catch (err) {
      // A conflict: another instance (a former leader) handled it meanwhile; anything else retries next tick.
      if ((err as { code?: unknown }).code !== 'VF_ERR_STATE_CONFLICT') log.warn({ err: (err as Error).message, event: event.id }, 'could not update the billing outbox');
    }
  }
}
