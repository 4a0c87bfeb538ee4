/**
 * Proration against a table of hand-computed cases (cents): the unused time of the old plan
 * credited, the rest of the period on the new plan charged, each line rounded to the nearest cent
 * (halves away from zero); and which plan a tenant was on at a given moment.
 */
import t from 'tap';
import { planAt, prorate, prorationLines, type PlanChange } from '../../../src/shared/billing/plan-change.js';
import type { PlanConfig } from '../../../src/shared/config/schema.js';

const plan = (id: string, price: number): PlanConfig => ({ id, name: id, price, currency: 'USD', included: { requests: 0, bytes: 0 }, overage: {}, limits: { quota: 'hard' } }) as PlanConfig;
const DAY = 86_400_000;
const june = { start: Date.UTC(2026, 5, 1), end: Date.UTC(2026, 6, 1) }; // 30 days
const february = { start: Date.UTC(2026, 1, 1), end: Date.UTC(2026, 2, 1) }; // 28 days

// [what, from price, to price, period, moment, credit, charge]
const cases: [string, number, number, { start: number; end: number }, number, number, number][] = [
  ['$10 -> $20 halfway: -$5 + $10 = +$5', 1000, 2000, june, june.start + 15 * DAY, -500, 1000],
  ['at the very start: the whole old fee back, the whole new one charged', 1000, 2000, june, june.start, -1000, 2000],
  ['at the very end: nothing left to prorate', 1000, 2000, june, june.end, 0, 0],
  ['a third gone: 999 x 2/3 = 666 exactly, 1999 x 2/3 = 1332.67 -> 1333', 999, 1999, june, june.start + 10 * DAY, -666, 1333],
  ['free -> $29 with 20 of 30 days left: 1933.33 -> 1933', 0, 2900, june, june.start + 10 * DAY, 0, 1933],
  ['a half cent rounds away from zero: 1 x 1/2 = 0.5 -> 1, 3 x 1/2 = 1.5 -> 2', 1, 3, june, june.start + 15 * DAY, -1, 2],
  ['immediate downgrade $20 -> $10 halfway: net credit of $5', 2000, 1000, june, june.start + 15 * DAY, -1000, 500],
  ['February (28 days), 21 days left: 3/4 of 1000 and of 3000', 1000, 3000, february, february.start + 7 * DAY, -750, 2250],
  ['one hour into June: 4990 x 719/720 = 4983.07 -> 4983; 9990 x 719/720 = 9976.125 -> 9976', 4990, 9990, june, june.start + 3_600_000, -4983, 9976],
];

t.test('proration lines: credit and charge per hand-computed case', async (t) => {
  for (const [what, fromPrice, toPrice, period, at, credit, charge] of cases) {
    const lines = prorationLines(plan('old', fromPrice), plan('new', toPrice), period, at);
    t.same(lines.map((l) => l.amount), [credit, charge], what);
    t.same(lines.map((l) => l.kind), ['proration', 'proration']);
  }
  const [unused, rest] = prorationLines(plan('Basic', 1000), plan('Pro', 2000), june, june.start + 15 * DAY);
  t.match(unused, { description: 'Unused time on Basic (50.0% of the period)', quantity: 1, unitPrice: -500 });
  t.match(rest, { description: 'Remaining time on Pro (50.0% of the period)', quantity: 1, unitPrice: 1000 });
});

t.test('prorate stays exact beyond 2^53 in the intermediate product', async (t) => {
  t.equal(prorate(1e12, 31 * DAY - 1, 31 * DAY), 999_999_999_627, '1e12 x (1 - 1/2678400000) = 999999999626.64 -> 999999999627');
  t.equal(prorate(0, 5, 10), 0);
});

t.test('the plan at a moment: the `from` of the first change after it, else the current one', async (t) => {
  const change = (at: number, from: string, to: string): PlanChange => ({ tenant: 'acme', at, periodStart: 0, from, to, scheduled: false, prorations: [], by: 'x' });
  const changes = [change(300, 'pro', 'basic'), change(100, 'basic', 'pro')];
  t.equal(planAt(changes, 'basic', 50), 'basic', 'before both');
  t.equal(planAt(changes, 'basic', 100), 'pro', 'a change applies from its own moment');
  t.equal(planAt(changes, 'basic', 299), 'pro');
  t.equal(planAt(changes, 'basic', 300), 'basic');
  t.equal(planAt([], 'team', 0), 'team', 'no changes: the current plan');
});
