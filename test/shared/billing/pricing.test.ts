/** Tier and usage arithmetic against hand-computed cases (all amounts in cents). */
import t from 'tap';
import { tierCharges, usageCost } from '../../../src/shared/billing/pricing.js';
import { validateConfig } from '../../../src/shared/config/load.js';
import { emptyUsage } from '../../../src/shared/billing/usage.js';
import { periodAt } from '../../../src/shared/billing/billing-period.js';

const tiers = [
  { upTo: 1000, price: 0, per: 1 },
  { upTo: 11_000, price: 50, per: 1000 },
  { price: 30, per: 1000 },
];

t.test('graduated tiers: each tier prices only its own units, rounded up once per tier', async (t) => {
  t.same(tierCharges(0, tiers), []);
  t.same(tierCharges(999, tiers), [{ quantity: 999, price: 0, per: 1, amount: 0 }]);
  // 2500: 1000 free, 1500 x 50/1000 = 75.
  t.same(tierCharges(2500, tiers).map((c) => c.amount), [0, 75]);
  // 1001: one unit in tier 2 costs 0.05 cents, rounded up to 1.
  t.same(tierCharges(1001, tiers).map((c) => c.amount), [0, 1]);
  // 21_000: 1000 free; 10_000 x 0.05 = 500; 10_000 x 0.03 = 300.
  t.same(tierCharges(21_000, tiers).map((c) => [c.quantity, c.amount]), [[1000, 0], [10_000, 500], [10_000, 300]]);
  // Beyond 2^53 / price the product would lose precision in a double: BigInt keeps it exact.
  t.same(tierCharges(9e15, [{ price: 7, per: 1_000_000 }]).map((c) => c.amount), [63_000_000_000]);
});

t.test('usage cost: fee plus overage of requests and of bytes (in and out together)', async (t) => {
  const config = validateConfig(
    {
      pools: [{ name: 'web', backends: [{ id: 'w', url: 'http://127.0.0.1:9' }] }],
      billing: { plans: [{ id: 'pro', name: 'Pro', price: 2000, included: { requests: 1000, bytes: '1mb' }, overage: { requests: tiers, bytes: [{ price: 9, per: '1gb' }] } }] },
    },
    'test',
    {},
  );
  const plan = config.billing.plans[0]!;
  t.same(usageCost(plan, emptyUsage()), { overage: { requests: 0, bytes: 0 }, total: 2000, lines: { requests: [], bytes: [] } });
  const usage = { ...emptyUsage(), requests: 3500, bytesIn: 1024 * 1024, bytesOut: 2 * 1024 ** 3 };
  const cost = usageCost(plan, usage);
  // 2500 requests over: 0 + 75. 2 GiB over: 2 x 9 = 18.
  t.same(cost.overage, { requests: 2500, bytes: 2 * 1024 ** 3 });
  t.equal(cost.total, 2000 + 75 + 18);
});

t.test('periods: calendar months in UTC, or fixed lengths from the epoch', async (t) => {
  t.same(periodAt('month', Date.parse('2026-02-14T23:59:59Z')), { start: Date.parse('2026-02-01T00:00:00Z'), end: Date.parse('2026-03-01T00:00:00Z') });
  t.same(periodAt('month', Date.parse('2026-12-31T12:00:00Z')), { start: Date.parse('2026-12-01T00:00:00Z'), end: Date.parse('2027-01-01T00:00:00Z') });
  t.same(periodAt(600_000, 1_000_000_123), { start: 999_600_000, end: 1_000_200_000 });
});
