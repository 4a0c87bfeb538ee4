/**
 * `security` and `routes[].security` (issue 17): defaults declared once, and every invalid
 * exclusion, CIDR, mode or size reported with its path, as `veloflux check` prints it.
 */
import t from 'tap';
import { validateConfig } from '../../src/shared/config/load.js';
import { configProblems } from '../helpers/config-problems.js';

const pools = [{ name: 'web', backends: [{ id: 'web-1', url: 'http://127.0.0.1:8081' }] }];

const problemsOf = (raw: Record<string, unknown>): string[] => configProblems({ pools, ...raw });

t.test('defaults: off, threshold 5, 64 KiB of body inspected, the rest forwarded, no lists', async (t) => {
  const config = validateConfig({ pools, routes: [{ path: '/', pool: 'web' }] }, 'test.yaml', {});
  t.same(config.security, {
    mode: 'off',
    threshold: 5,
    inspectBodyBytes: 65536,
    bodyOverflow: 'forward',
    allowedMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    exclusions: [],
    ipAllow: [],
    ipDeny: [],
  });
  t.equal(config.routes[0]!.security, undefined, 'a route without its own settings takes the top-level ones');
});

t.test('a route sets its own mode, threshold, body limit and exclusions', async (t) => {
  const config = validateConfig(
    {
      pools,
      routes: [{ path: '/', pool: 'web', security: { mode: 'block', threshold: 10, inspectBodyBytes: '16kb', bodyOverflow: 'reject', exclusions: [{ rules: [942100, 'xss'], paths: ['/cms/'], parameters: ['body:content'] }] } }],
      security: { mode: 'detect', ipDeny: ['203.0.113.0/24', '2001:db8::/32'], ipAllow: ['10.0.0.7'] },
    },
    'test.yaml',
    {},
  );
  t.same(config.routes[0]!.security, { mode: 'block', threshold: 10, inspectBodyBytes: 16384, bodyOverflow: 'reject', exclusions: [{ rules: [942100, 'xss'], paths: ['/cms/'], parameters: ['body:content'] }] });
  t.same(config.security.ipDeny, ['203.0.113.0/24', '2001:db8::/32']);
});

t.test('every problem with its path: unknown rule or category, empty exclusion, bad CIDR, mode, size, parameter', async (t) => {
  const problems = problemsOf({
    routes: [
      { path: '/', pool: 'web', security: { mode: 'on', exclusions: [{ rules: [999999] }, { paths: ['/x'] }, { rules: ['sql'], parameters: ['a b'] }] } },
      { path: '/b/', pool: 'web', security: { inspectBodyBytes: '1tb', bodyOverflow: 'drop' } },
    ],
    security: { ipDeny: ['10.0.0.0/8', '10.0.0.0/33', 'evil.example'], ipAllow: ['300.1.1.1'], exclusions: [{ paths: ['no-slash'], rules: [920100] }] },
  });
  const expect = [
    /^routes\[0\]\.security\.mode: /,
    /^routes\[0\]\.security\.exclusions\[0\]\.rules\[0\]: unknown rule id/,
    /^routes\[0\]\.security\.exclusions\[1\]: name the rules or the parameters/,
    /^routes\[0\]\.security\.exclusions\[2\]\.rules\[0\]: /,
    /^routes\[0\]\.security\.exclusions\[2\]\.parameters\[0\]: expected a parameter name/,
    /^routes\[1\]\.security\.inspectBodyBytes: /,
    /^routes\[1\]\.security\.bodyOverflow: /,
    /^security\.ipDeny\[1\]: expected an IP address or CIDR/,
    /^security\.ipDeny\[2\]: expected an IP address or CIDR/,
    /^security\.ipAllow\[0\]: expected an IP address or CIDR/,
    /^security\.exclusions\[0\]\.paths\[0\]: expected a path prefix/,
  ];
  for (const pattern of expect) t.ok(problems.some((p) => pattern.test(p)), `reports ${pattern}`);
  t.equal(problems.length, expect.length, `exactly these problems:\n${problems.join('\n')}`);
});
