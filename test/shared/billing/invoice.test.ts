/** Invoice drafts and their CSV against hand-computed cases (all amounts in cents). */
import t from 'tap';
import { draftInvoice, type Invoice } from '../../../src/shared/billing/invoice.js';
import { invoiceCsv } from '../../../src/shared/billing/invoice-csv.js';
import { prorationLines, type PlanChange } from '../../../src/shared/billing/plan-change.js';
import { emptyUsage } from '../../../src/shared/billing/usage.js';
import { validateConfig } from '../../../src/shared/config/load.js';

const { billing } = validateConfig(
  {
    pools: [{ name: 'web', backends: [{ id: 'w', url: 'http://127.0.0.1:9' }] }],
    routes: [{ path: '/', pool: 'web' }],
    billing: {
      plans: [
        { id: 'basic', name: 'Basic', price: 1000, included: { requests: 100 }, overage: { requests: [{ upTo: 100, price: 0 }, { price: 5, per: 10 }] } },
        { id: 'pro', name: 'Pro', price: 2000, included: { requests: 1000, bytes: 1000 }, overage: { bytes: [{ price: 1, per: 100 }] } },
      ],
    },
  },
  'test.yaml',
  {},
);
const [basic, pro] = billing.plans as [(typeof billing.plans)[0], (typeof billing.plans)[0]];
const period = { start: 60_000, end: 120_000 };

t.test('fee of the plan at the start, overage tier by tier on the plan at the end', async (t) => {
  const usage = { ...emptyUsage(), requests: 351, bytesIn: 10, bytesOut: 20 };
  const draft = draftInvoice({ tenant: 'acme', period, planAtStart: basic, planAtEnd: basic, usage, changes: [] });
  // 251 over 100 included: 100 at 0, then 151 at 5 per 10 = 75.5 -> 76.
  t.same(draft.lines.map((l) => [l.kind, l.quantity, l.unitPrice, l.per, l.amount]), [
    ['plan', 1, 1000, 1, 1000],
    ['overage', 100, 0, 1, 0],
    ['overage', 151, 5, 10, 76],
  ]);
  t.equal(draft.total, 1076);
  t.match(draft, { tenant: 'acme', periodStart: 60_000, currency: 'USD', plan: { id: 'basic' }, period: { start: '1970-01-01T00:01:00.000Z', end: '1970-01-01T00:02:00.000Z' } });
  t.match(draft.lines[2], { metric: 'requests', description: 'requests 201-351 (tier 2)' });
});

t.test('an upgrade halfway: the old fee plus its prorations (-$5 + $10)', async (t) => {
  const change: PlanChange = { tenant: 'acme', at: 90_000, periodStart: 60_000, from: 'basic', to: 'pro', scheduled: false, prorations: prorationLines(basic, pro, period, 90_000), by: 'x' };
  const usage = { ...emptyUsage(), requests: 50, bytesIn: 1250 };
  const draft = draftInvoice({ tenant: 'acme', period, planAtStart: basic, planAtEnd: pro, usage, changes: [change] });
  // Bytes 250 over Pro's 1000 at 1 per 100: 2.5 -> 3.
  t.same(draft.lines.map((l) => [l.kind, l.amount]), [['plan', 1000], ['proration', -500], ['proration', 1000], ['overage', 3]]);
  t.equal(draft.total, 1503);
  t.match(draft.plan, { id: 'pro' });
});

t.test('CSV: header block, one row per line, the total; quoted and formula-safe fields', async (t) => {
  const draft = draftInvoice({ tenant: '=evil,"co"', period, planAtStart: basic, planAtEnd: basic, usage: emptyUsage(), changes: [] });
  const invoice: Invoice = { ...draft, number: 7, status: 'open', issuedAt: '1970-01-01T00:02:02.000Z' };
  const csv = invoiceCsv(invoice);
  const rows = csv.split('\r\n');
  t.equal(rows[0], 'invoice,7');
  t.equal(rows[1], `tenant,"'=evil,""co"""`, 'quoted, quotes doubled, a formula defused');
  t.ok(rows.includes('kind,description,metric,quantity,unit_price,per,amount,currency'));
  t.ok(rows.includes('plan,Basic plan,,1,1000,1,1000,USD'));
  t.ok(rows.includes('total,,,,,,1000,USD'));
  t.ok(csv.endsWith('\r\n'));
});

t.test('billing.webhook: a URL and the name of the env variable holding the secret', async (t) => {
  const base = { pools: [{ name: 'web', backends: [{ id: 'w', url: 'http://127.0.0.1:9' }] }], routes: [{ path: '/', pool: 'web' }] };
  const ok = validateConfig({ ...base, billing: { webhook: { url: 'https://billing.example.com/hooks/veloflux' } } }, 'test.yaml', {});
  t.same(ok.billing.webhook, { url: 'https://billing.example.com/hooks/veloflux', secretEnv: 'VELOFLUX_BILLING_WEBHOOK_SECRET', timeout: 5000 });
  t.throws(() => validateConfig({ ...base, billing: { webhook: { url: 'ftp://x', secret: 'inline' } } }, 'test.yaml', {}), { code: 'VF_ERR_CONFIG_INVALID', message: /billing\.webhook/ });
});
