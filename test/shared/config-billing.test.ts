import t from 'tap';
import { validateConfig } from '../../src/shared/config/load.js';
import { configProblems } from '../helpers/config-problems.js';

const pools = [{ name: 'web', backends: [{ id: 'web-1', url: 'http://127.0.0.1:8081' }] }];

const problemsOf = (raw: Record<string, unknown>): string[] => configProblems({ pools, ...raw });

t.test('defaults: monthly periods, no plans; a plan gets USD, nothing included, a hard quota', async (t) => {
  t.same(validateConfig({ pools }, 'test.yaml', {}).billing, { period: 'month', plans: [] });
  const config = validateConfig({ pools, billing: { period: '10m', plans: [{ id: 'free', name: 'Free' }] } }, 'test.yaml', {});
  t.equal(config.billing.period, 600_000);
  t.same(config.billing.plans[0], { id: 'free', name: 'Free', price: 0, currency: 'USD', included: { requests: 0, bytes: 0 }, overage: {}, limits: { quota: 'hard' } });
});

t.test('tiers: sizes as per, graduated upTo', async (t) => {
  const config = validateConfig(
    {
      pools,
      billing: {
        plans: [{ id: 'pro', name: 'Pro', price: 2000, included: { requests: 1_000_000, bytes: '10gb' }, overage: { requests: [{ upTo: 1_000_000, price: 0 }, { price: 50, per: 1_000_000 }], bytes: [{ price: 9, per: '1gb' }] } }],
      },
    },
    'test.yaml',
    {},
  );
  const pro = config.billing.plans[0]!;
  t.equal(pro.included.bytes, 10 * 1024 ** 3);
  t.same(pro.overage.requests, [{ upTo: 1_000_000, price: 0, per: 1 }, { price: 50, per: 1_000_000 }]);
  t.same(pro.overage.bytes, [{ price: 9, per: 1024 ** 3 }]);
});

t.test('every problem with its path: floats, duplicates, tier order, unknown default plan, short period', async (t) => {
  const problems = problemsOf({
    billing: {
      period: '10ms',
      defaultPlan: 'gold',
      plans: [
        { id: 'pro', name: 'Pro', price: 19.99, currency: 'usd' },
        { id: 'pro', name: 'Again', overage: { requests: [{ upTo: 10, price: 1 }, { upTo: 5, price: 1 }, { price: 2 }] } },
        { id: 'x', name: 'Open first', overage: { bytes: [{ price: 1 }, { upTo: 100, price: 2 }] } },
      ],
    },
  });
  for (const path of [
    'billing.period',
    'billing.defaultPlan',
    'billing.plans[0].price',
    'billing.plans[0].currency',
    'billing.plans[1].id',
    'billing.plans[1].overage.requests[1].upTo',
    'billing.plans[2].overage.bytes[0].upTo',
    'billing.plans[2].overage.bytes[1].upTo',
  ]) t.ok(problems.some((p) => p.startsWith(`${path}: `)), `a problem at ${path}`);
});
