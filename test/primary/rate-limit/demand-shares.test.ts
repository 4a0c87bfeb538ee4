import t from 'tap';
import { demandShares } from '../../../src/primary/rate-limit/demand-shares.js';

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

t.test('parts add up to the whole, proportional to demand', async (t) => {
  const parts = demandShares([30, 10]);
  t.ok(Math.abs(sum(parts) - 1) < 1e-12, `sum ${sum(parts)}`);
  t.ok(Math.abs(parts[0]! / parts[1]! - 3) < 0.05, `30:10 gives about 3:1 (${parts[0]! / parts[1]!})`);
  const half = demandShares([30, 10], 0.5);
  t.ok(Math.abs(sum(half) - 0.5) < 1e-12, 'of a part of the whole (an instance share)');
});

t.test('no demand anywhere: equal parts; an idle part keeps about 1% / n', async (t) => {
  t.same(demandShares([0, 0, 0, 0]).map((p) => Math.round(p * 1e6) / 1e6), [0.25, 0.25, 0.25, 0.25]);
  const [busy, idle] = demandShares([100, 0]);
  t.ok(idle! > 0 && idle! < 0.006, `idle part ${idle}`);
  t.ok(busy! > 0.994, `busy part ${busy}`);
  t.same(demandShares([]), []);
  t.same(demandShares([7]), [1]);
});
