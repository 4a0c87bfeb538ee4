/**
 * `Idempotency-Key` for the main API's writes that must not happen twice (POST
 * /api/billing/upgrade), as Stripe does it: the first request with a key runs and its answer is
 * stored (namespace `idempotency`, per user and key); the same request again gets that answer
 * back (with `Idempotent-Replayed: true`) and changes nothing. The same key with a different body,
 * or while the first is still running, is 409 VF_ERR_IDEMPOTENCY_CONFLICT. Answers of 4xx are
 * stored like successes (the same request would fail the same way); after a 5xx the key is freed
 * so a retry can run. A key may be used again for anything once its record is IDEMPOTENCY_TTL_MS
 * old (the old record is then replaced); the leader prunes older records (`prune`).
 */
import { createHash } from 'node:crypto';
import { VelofluxError } from '../errors.js';
import type { StateStore } from '../state/store.js';

export const IDEMPOTENCY_NAMESPACE = 'idempotency';
export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;
/** Keys are client-chosen: bounded, printable. */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

interface IdempotencyRecord {
  fingerprint: string;
  state: 'running' | 'done';
  status?: number;
  body?: unknown;
  at: number;
}

export interface IdempotentAnswer {
  status: number;
  body: unknown;
  replayed: boolean;
}

export class IdempotentRequests {
  readonly #store: StateStore;

  constructor(store: StateStore) {
    this.#store = store;
  }

  /** Deletes the records older than IDEMPOTENCY_TTL_MS; returns how many. */
  async prune(now: number = Date.now()): Promise<number> {
    let pruned = 0;
    for (const [id, record] of await this.#store.list<IdempotencyRecord>(IDEMPOTENCY_NAMESPACE)) {
      if (now - record.value.at <= IDEMPOTENCY_TTL_MS) continue;
      try {
        if (await this.#store.delete(IDEMPOTENCY_NAMESPACE, id, { expectedVersion: record.version })) pruned++;
      } catch (err) {
        // Used again meanwhile: it is current now.
        if ((err as VelofluxError).code !== 'VF_ERR_STATE_CONFLICT') throw err;
      }
    }
    return pruned;
  }

  /** Runs `action` once per (scope, key); `request` is what must match for a replay (method, path, body). */
  async run(scope: string, key: string, request: unknown, action: () => Promise<{ status: number; body: unknown }>, now: number = Date.now()): Promise<IdempotentAnswer> {
    if (!IDEMPOTENCY_KEY.test(key)) throw new VelofluxError('VF_ERR_VALIDATION', 'Idempotency-Key: 1 to 255 printable ASCII characters');
    const id = `${scope}.${key}`;
    const fingerprint = createHash('sha256').update(JSON.stringify(request)).digest('hex');
    const existing = await this.#store.get<IdempotencyRecord>(IDEMPOTENCY_NAMESPACE, id);
    let expectedVersion = 0;
    if (existing !== undefined) {
      if (now - existing.value.at > IDEMPOTENCY_TTL_MS) expectedVersion = existing.version;
      else {
        if (existing.value.fingerprint !== fingerprint) throw new VelofluxError('VF_ERR_IDEMPOTENCY_CONFLICT', 'this Idempotency-Key was used for a different request');
        if (existing.value.state === 'running') throw new VelofluxError('VF_ERR_IDEMPOTENCY_CONFLICT', 'the request with this Idempotency-Key is still running');
        return { status: existing.value.status!, body: existing.value.body, replayed: true };
      }
    }
    let claimed;
    try {
      claimed = await this.#store.put<IdempotencyRecord>(IDEMPOTENCY_NAMESPACE, id, { fingerprint, state: 'running', at: now }, { expectedVersion });
    } catch (err) {
      if ((err as VelofluxError).code === 'VF_ERR_STATE_CONFLICT') throw new VelofluxError('VF_ERR_IDEMPOTENCY_CONFLICT', 'the request with this Idempotency-Key is still running');
      throw err;
    }
    let answer: { status: number; body: unknown };
    try {
      answer = await action();
    } catch (err) {
      if (!(err instanceof VelofluxError) || err.status >= 500) {
        await this.#store.delete(IDEMPOTENCY_NAMESPACE, id).catch(() => {});
        throw err;
      }
      answer = { status: err.status, body: { error: { code: err.code, message: err.message } } };
    }
    await this.#store.put<IdempotencyRecord>(IDEMPOTENCY_NAMESPACE, id, { fingerprint, state: 'done', status: answer.status, body: answer.body, at: now }, { expectedVersion: claimed.version });
    return { ...answer, replayed: false };
  }
}
