import t from 'tap';
import { validateConfig } from '../../src/shared/config/load.js';
import { configProblems } from '../helpers/config-problems.js';

const pools = [{ name: 'web', backends: [{ id: 'web-1', url: 'http://127.0.0.1:8081' }] }];

const problemsOf = (raw: Record<string, unknown>): string[] => configProblems({ pools, ...raw });

t.test('defaults: key ip, per 1s, burst = rate', async (t) => {
  const config = validateConfig({ pools, routes: [{ path: '/', pool: 'web', rateLimit: 'per-client' }], rateLimits: [{ name: 'per-client', rate: 100 }] }, 'test.yaml', {});
  t.same(config.rateLimits, [{ name: 'per-client', key: 'ip', rate: 100, per: 1000, burst: 100 }]);
  t.equal(config.routes[0]!.rateLimit, 'per-client');
  t.same(validateConfig({ pools }, 'test.yaml', {}).rateLimits, [], 'none by default');
});

t.test('every problem with its path: unknown and duplicate names, bad key, rate, per, burst', async (t) => {
  const problems = problemsOf({
    routes: [{ path: '/', pool: 'web' }, { path: '/api/', pool: 'web', rateLimit: 'x' }],
    rateLimits: [
      { name: 'a', rate: 10, key: 'cookie:sid' },
      { name: 'a', rate: 0, per: '0s', burst: 0 },
      { name: 'b:c', rate: 1.5 },
    ],
  });
  for (const expected of [
    'routes[1].rateLimit: unknown rate limit "x"',
    'rateLimits[1].name: duplicate rate limit name "a"',
    'rateLimits[0].key: expected ip, route or header:<name>',
  ]) t.ok(problems.includes(expected), expected);
  for (const path of ['rateLimits[1].rate', 'rateLimits[1].burst', 'rateLimits[2].name', 'rateLimits[2].rate']) {
    t.ok(problems.some((p) => p.startsWith(`${path}: `)), `a problem at ${path}`);
  }
  t.same(problemsOf({ routes: [{ path: '/', pool: 'web', rateLimit: 'a' }], rateLimits: [{ name: 'a', rate: 1, per: '0s' }] }), ['rateLimits[0].per: must be longer than 0']);
});
