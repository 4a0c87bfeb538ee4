/**
 * The invoice ledger against a real redis-server shared by two instances' stores racing to close
 * the same periods: every tenant and period gets exactly one invoice, numbers run 1..N without a
 * gap, a claim left pending by a crash is finished by the next closer, and paid/void only from open.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisStateStore } from '../../../src/shared/state/redis-store.js';
import { EmbeddedStateStore } from '../../../src/shared/state/embedded-store.js';
import type { StateStore } from '../../../src/shared/state/store.js';
import { InvoiceLedger, INVOICE_SEQUENCE_NAMESPACE } from '../../../src/shared/billing/invoice-ledger.js';
import { INVOICES_NAMESPACE, type Invoice, type InvoiceDraft } from '../../../src/shared/billing/invoice.js';
import { emptyUsage } from '../../../src/shared/billing/usage.js';
import { startRedis } from '../../helpers/redis.js';

const redis = await startRedis();
t.teardown(() => redis.stop());

async function redisStore(nodeId: string, keyPrefix: string): Promise<RedisStateStore> {
  const store = new RedisStateStore({ url: redis.url, keyPrefix, commandTimeout: 2000 }, nodeId);
  t.teardown(() => store.close());
  if (!(await store.whenAvailable(5000))) throw new Error('redis not available');
  return store;
}

function draft(tenant: string, periodStart: number): InvoiceDraft {
  return {
    tenant,
    periodStart,
    period: { start: new Date(periodStart).toISOString(), end: new Date(periodStart + 6000).toISOString() },
    currency: 'USD',
    plan: { id: 'pro', name: 'Pro' },
    lines: [{ kind: 'plan', description: 'Pro plan', quantity: 1, unitPrice: 1000, per: 1, amount: 1000 }],
    total: 1000,
    usage: emptyUsage(),
  };
}

async function allInvoices(store: StateStore): Promise<Invoice[]> {
  return [...(await store.list<Invoice>(INVOICES_NAMESPACE)).values()].map((r) => r.value).sort((a, b) => a.number - b.number);
}

t.test('two instances racing on the same periods: one invoice each, numbered 1..N without gaps', async (t) => {
  const [a, b] = [await redisStore('node-a', 'race:'), await redisStore('node-b', 'race:')];
  const [ledgerA, ledgerB] = [new InvoiceLedger(a), new InvoiceLedger(b)];
  const tenants = Array.from({ length: 8 }, (_, i) => `tenant-${i}`);
  const periods = [0, 6000, 12_000];
  const created = { a: 0, b: 0 };
  for (const period of periods) {
    // Both close every tenant at once, in opposite orders, as a lease changing hands could.
    const results = await Promise.all([
      ...tenants.map((tenant) => ledgerA.close(draft(tenant, period)).then((r) => (created.a += r.created ? 1 : 0, r))),
      ...[...tenants].reverse().map((tenant) => ledgerB.close(draft(tenant, period)).then((r) => (created.b += r.created ? 1 : 0, r))),
    ]);
    // Both callers of one tenant and period get the same invoice.
    for (const tenant of tenants) t.equal(new Set(results.filter((r) => r.invoice.tenant === tenant).map((r) => r.invoice.number)).size, 1, `${tenant} @${period}: one number`);
  }
  const invoices = await allInvoices(a);
  t.equal(invoices.length, tenants.length * periods.length, 'one invoice per tenant and period');
  t.same(invoices.map((i) => i.number), Array.from({ length: invoices.length }, (_, i) => i + 1), 'numbered 1..N without gaps');
  t.equal(new Set(invoices.map((i) => `${i.tenant}.${i.periodStart}`)).size, invoices.length, 'no tenant and period twice');
  t.equal(created.a + created.b, invoices.length, `each created once (a ${created.a}, b ${created.b})`);
  t.same((await a.get(INVOICE_SEQUENCE_NAMESPACE, 'ledger'))?.value, { next: invoices.length + 1, pending: null });
});

t.test('a claim left pending by a crash is written by the next closer, under its number', async (t) => {
  const store = await redisStore('node-c', 'crash:');
  const ledger = new InvoiceLedger(store);
  await ledger.close(draft('acme', 0));
  // The state a closer leaves when it dies right after claiming number 2 (the sequence write).
  const claimed: Invoice = { ...draft('globex', 0), number: 2, status: 'open', issuedAt: new Date(0).toISOString() };
  const sequence = await store.get(INVOICE_SEQUENCE_NAMESPACE, 'ledger');
  await store.put(INVOICE_SEQUENCE_NAMESPACE, 'ledger', { next: 3, pending: claimed }, { expectedVersion: sequence!.version });
  t.equal(await ledger.get(2), undefined, 'not written yet');

  const next = await new InvoiceLedger(store).close(draft('initech', 0));
  t.equal(next.invoice.number, 3, 'the next invoice takes the next number');
  t.match(await ledger.get(2), { tenant: 'globex', number: 2 }, 'the pending one was written first');
  const again = await ledger.close(draft('globex', 0));
  t.same([again.created, again.invoice.number], [false, 2], 'and counts as closed');
  t.same((await allInvoices(store)).map((i) => i.number), [1, 2, 3]);

  // recover() alone (the leader's tick) finishes a claim too.
  const s2 = await store.get(INVOICE_SEQUENCE_NAMESPACE, 'ledger');
  await store.put(INVOICE_SEQUENCE_NAMESPACE, 'ledger', { next: 5, pending: { ...claimed, tenant: 'hooli', number: 4 } }, { expectedVersion: s2!.version });
  await ledger.recover();
  t.match(await ledger.get(4), { tenant: 'hooli' });
});

t.test('paid or void only from open; the embedded store numbers the same way', async (t) => {
  const store = await EmbeddedStateStore.open(mkdtempSync(join(tmpdir(), 'ledger-')), 'node-e');
  t.teardown(() => store.close());
  const ledger = new InvoiceLedger(store);
  const first = await ledger.close(draft('acme', 0));
  const second = await ledger.close(draft('acme', 6000));
  t.same([first.invoice.number, second.invoice.number], [1, 2]);
  t.equal((await ledger.close(draft('acme', 0))).created, false);
  t.match(await ledger.setStatus(1, 'paid'), { status: 'paid', statusChangedAt: String });
  await t.rejects(ledger.setStatus(1, 'void'), { code: 'VF_ERR_INVOICE_NOT_OPEN' });
  await t.rejects(ledger.setStatus(9, 'void'), { code: 'VF_ERR_NOT_FOUND' });
  t.same((await ledger.list('acme')).map((i) => [i.number, i.status]), [[2, 'open'], [1, 'paid']], 'newest first');
});

t.test('onWritten runs for every invoice written, also for one finished after a crash', async (t) => {
  const store = await redisStore('node-w', 'written:');
  const seen: number[] = [];
  const ledger = new InvoiceLedger(store, { onWritten: async (invoice) => void seen.push(invoice.number) });
  await ledger.close(draft('acme', 0));
  const sequence = await store.get(INVOICE_SEQUENCE_NAMESPACE, 'ledger');
  const claimed: Invoice = { ...draft('globex', 0), number: 2, status: 'open', issuedAt: new Date(0).toISOString() };
  await store.put(INVOICE_SEQUENCE_NAMESPACE, 'ledger', { next: 3, pending: claimed }, { expectedVersion: sequence!.version });
  await ledger.recover();
  await ledger.close(draft('acme', 0));
  t.same(seen, [1, 2], 'each once; a period found closed runs nothing');
});
