/**
 * The invoice ledger: numbers invoices 1, 2, 3, ... without gaps and closes each tenant's period
 * into exactly one, even when two instances race (a lease handing over, a paused leader waking up).
 *
 * The number comes from one record, `invoice-sequence/ledger` = { next, pending }, written only
 * with optimistic concurrency (expectedVersion). Claiming number N is one write of that record:
 * `next` becomes N + 1 and `pending` holds the whole invoice N. So the counter is never incremented
 * without the invoice's content being stored in the same atomic write: a crash right after the
 * claim loses nothing. The invoice is then copied to `invoices/N` and indexed under
 * `invoice-periods/<tenant>.<periodStart>`, `onWritten` runs (the billing event), and `pending`
 * is cleared. Whoever next reads the
 * sequence with a `pending` (the next close, or `recover()` on the leader's tick) finishes that
 * copy first, so an invoice claimed is always written, numbers never skip, and no claim starts
 * while another is unfinished.
 *
 * Exactly once: a claim is only made after reading the sequence with no `pending` and finding no
 * index entry for the tenant and period. Every earlier claim had its index written before its
 * `pending` was cleared, so that check sees all of them; a rival claiming at the same time writes
 * the same sequence version and one of the two gets a conflict, re-reads and finds the other's.
 */
import { VelofluxError } from '../errors.js';
import type { StateStore } from '../state/store.js';
import { INVOICES_NAMESPACE, type Invoice, type InvoiceDraft, type InvoiceStatus } from './invoice.js';

export const INVOICE_SEQUENCE_NAMESPACE = 'invoice-sequence';
export const INVOICE_PERIODS_NAMESPACE = 'invoice-periods';
const SEQUENCE_ID = 'ledger';
/** Rivals retry on conflict; more rounds than this means something else is wrong. */
const MAX_ATTEMPTS = 50;

interface Sequence {
  next: number;
  pending: Invoice | null;
}

export const invoicePeriodId = (tenant: string, periodStart: number): string => `${tenant}.${periodStart}`;

export interface Closed {
  invoice: Invoice;
  /** False when this period was already closed (by this instance earlier, or by another). */
  created: boolean;
}

export interface InvoiceLedgerOptions {
  /**
   * Runs after an invoice is written and before its claim is cleared, so a closer that stops in
   * between leaves it to run again for the next one (at least once): the billing event goes here.
   */
  onWritten?(invoice: Invoice): Promise<void>;
}

export class InvoiceLedger {
  readonly #store: StateStore;
  readonly #onWritten: ((invoice: Invoice) => Promise<void>) | undefined;

  constructor(store: StateStore, options: InvoiceLedgerOptions = {}) {
    this.#store = store;
    this.#onWritten = options.onWritten;
  }

  /** Closes the draft's tenant and period into an invoice, or returns the one that already closed it. */
  async close(draft: InvoiceDraft, now: number = Date.now()): Promise<Closed> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const sequence = await this.#settledSequence();
      const existing = await this.#closedFor(draft.tenant, draft.periodStart);
      if (existing !== undefined) return { invoice: existing, created: false };
      const invoice: Invoice = { ...draft, number: sequence.value.next, status: 'open', issuedAt: new Date(now).toISOString() };
      try {
        await this.#store.put<Sequence>(INVOICE_SEQUENCE_NAMESPACE, SEQUENCE_ID, { next: invoice.number + 1, pending: invoice }, { expectedVersion: sequence.version });
      } catch (err) {
        if (isConflict(err)) continue;
        throw err;
      }
      await this.#settle({ value: { next: invoice.number + 1, pending: invoice }, version: sequence.version + 1 });
      return { invoice, created: true };
    }
    throw new VelofluxError('VF_ERR_BUSY', `could not number the invoice of ${draft.tenant} for ${draft.period.start}: the sequence kept changing`);
  }

  /** Finishes a claim a crashed or paused closer left pending. */
  async recover(): Promise<void> {
    await this.#settledSequence();
  }

  async get(number: number): Promise<Invoice | undefined> {
    return (await this.#store.get<Invoice>(INVOICES_NAMESPACE, String(number)))?.value;
  }

  /** Every invoice (of one tenant, when given), newest first. */
  async list(tenant?: string): Promise<Invoice[]> {
    const all = [...(await this.#store.list<Invoice>(INVOICES_NAMESPACE)).values()].map((r) => r.value);
    return all.filter((i) => tenant === undefined || i.tenant === tenant).sort((a, b) => b.number - a.number);
  }

  /** open -> paid or void; anything else is VF_ERR_INVOICE_NOT_OPEN. */
  async setStatus(number: number, status: Exclude<InvoiceStatus, 'open'>, now: number = Date.now()): Promise<Invoice> {
    const record = await this.#store.get<Invoice>(INVOICES_NAMESPACE, String(number));
    if (record === undefined) throw new VelofluxError('VF_ERR_NOT_FOUND', `no invoice ${number}`);
    if (record.value.status !== 'open') throw new VelofluxError('VF_ERR_INVOICE_NOT_OPEN', `invoice ${number} is ${record.value.status}, not open`);
    const invoice: Invoice = { ...record.value, status, statusChangedAt: new Date(now).toISOString() };
    await this.#store.put(INVOICES_NAMESPACE, String(number), invoice, { expectedVersion: record.version });
    return invoice;
  }

  async #closedFor(tenant: string, periodStart: number): Promise<Invoice | undefined> {
    const index = await this.#store.get<{ number: number }>(INVOICE_PERIODS_NAMESPACE, invoicePeriodId(tenant, periodStart));
    return index === undefined ? undefined : this.get(index.value.number);
  }

  /** The sequence with no claim pending: a pending one is written out and cleared first. */
  async #settledSequence(): Promise<{ value: Sequence; version: number }> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const record = await this.#store.get<Sequence>(INVOICE_SEQUENCE_NAMESPACE, SEQUENCE_ID);
      const sequence = record ?? { value: { next: 1, pending: null }, version: 0 };
      if (sequence.value.pending === null) return sequence;
      await this.#settle(sequence);
    }
    throw new VelofluxError('VF_ERR_BUSY', 'the invoice sequence kept changing');
  }

  /** Writes the pending invoice and its index (each at most once), then clears `pending`. */
  async #settle(sequence: { value: Sequence; version: number }): Promise<void> {
    const invoice = sequence.value.pending;
    if (invoice === null) return;
    await putOnce(this.#store, INVOICES_NAMESPACE, String(invoice.number), invoice);
    await putOnce(this.#store, INVOICE_PERIODS_NAMESPACE, invoicePeriodId(invoice.tenant, invoice.periodStart), { number: invoice.number });
    await this.#onWritten?.(invoice);
    try {
      await this.#store.put<Sequence>(INVOICE_SEQUENCE_NAMESPACE, SEQUENCE_ID, { next: sequence.value.next, pending: null }, { expectedVersion: sequence.version });
    } catch (err) {
      // Someone else settled it (and perhaps claimed the next number) meanwhile.
      if (!isConflict(err)) throw err;
    }
  }
}

/** Creates the record unless it exists (then it is left as it is: its status may have moved on). */
async function putOnce(store: StateStore, namespace: string, id: string, value: unknown): Promise<void> {
  try {
    await store.put(namespace, id, value, { expectedVersion: 0 });
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
}

function isConflict(err: unknown): boolean {
  return (err as { code?: unknown }).code === 'VF_ERR_STATE_CONFLICT';
}
