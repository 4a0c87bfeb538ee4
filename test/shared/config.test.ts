import t from 'tap';
import { ConfigError, parseConfigText, validateConfig } from '../../src/shared/config/load.js';
import { formatProblem } from '../../src/shared/config/problems.js';

const minimal = {
  pools: [{ name: 'web', backends: [{ id: 'web-1', url: 'http://127.0.0.1:8081' }] }],
  routes: [{ path: '/', pool: 'web' }],
};

function problemsOf(raw: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    validateConfig(raw, 'test.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map(formatProblem);
    throw err;
  }
  return [];
}

t.test('defaults are filled once and durations become milliseconds', async (t) => {
  const config = validateConfig(minimal, 'test.yaml', {});
  t.equal(config.server.http.port, 80);
  t.equal(config.server.admin.host, '127.0.0.1');
  t.equal(config.server.timeouts.connect, 5000);
  t.equal(config.server.timeouts.clientHeader, 10_000);
  t.equal(config.pools[0]!.algorithm, 'round_robin');
  t.equal(config.pools[0]!.backends[0]!.weight, 1);
  t.equal(config.routes[0]!.host, '*');
  t.ok(Number.isInteger(config.server.workers) && (config.server.workers as number) >= 1, 'auto workers resolved to the core count');
});

t.test('adaptive: Peak-EWMA settings default to a 10 s decay and a 30 ms default RTT, and are checked', async (t) => {
  const config = validateConfig({ ...minimal, pools: [{ ...minimal.pools[0], algorithm: 'adaptive' }] }, 'test.yaml', {});
  t.equal(config.pools[0]!.algorithm, 'adaptive');
  t.same(config.pools[0]!.adaptive, { decay: 10_000, defaultRtt: 30 });
  const tuned = validateConfig({ ...minimal, pools: [{ ...minimal.pools[0], algorithm: 'adaptive', adaptive: { decay: '2s', defaultRtt: '5ms' } }] }, 'test.yaml', {});
  t.same(tuned.pools[0]!.adaptive, { decay: 2000, defaultRtt: 5 });
  t.same(problemsOf({ ...minimal, pools: [{ ...minimal.pools[0], algorithm: 'adaptive', adaptive: { decay: '0s', defaultRtt: '0ms', tau: 1 } }] }), [
    'pools[0].adaptive.decay: must be at least 100ms',
    'pools[0].adaptive.defaultRtt: must be at least 1ms',
    'pools[0].adaptive: unknown key(s) "tau"',
  ]);
});

t.test('the result is deep-frozen', async (t) => {
  const config = validateConfig(minimal, 'test.yaml', {});
  t.ok(Object.isFrozen(config));
  t.ok(Object.isFrozen(config.pools[0]!.backends[0]));
  t.throws(() => {
    (config.server.http as { port: number }).port = 1;
  });
});

t.test('every problem is reported at once, each with its path', async (t) => {
  const problems = problemsOf({
    server: { bogus: true, timeouts: { connect: '5 seconds' }, limits: { maxBodySize: 'lots' } },
    pools: [
      { name: 'web', algorithm: 'fastest', backends: [{ id: 'a', url: 'ftp://x' }, { id: 'a', url: 'http://127.0.0.1:1' }] },
      { name: 'web', backends: [] },
    ],
    routes: [{ path: '/', pool: 'web' }, { path: 'api', pool: 'nope' }],
  });
  const expected = [
    'server: unknown key(s) "bogus"',
    'server.timeouts.connect: invalid duration "5 seconds" (expected e.g. 250ms, 5s, 2m)',
    'server.limits.maxBodySize: invalid size "lots" (expected bytes or e.g. 16kb, 10mb, 1gb)',
    'pools[0].backends[0].url: expected an http:// or https:// origin like http://10.0.0.5:8080',
    'pools[1].backends: a pool needs at least one backend',
    'routes[1].path: expected a path prefix starting with "/" (no query)',
    'pools[1].name: duplicate pool name "web"',
    'pools[0].backends[1].id: duplicate backend id "a"',
    'routes[1].pool: unknown pool "nope"',
  ];
  for (const line of expected) t.ok(problems.includes(line), `reports ${line}`);
  t.ok(problems.some((p) => p.startsWith('pools[0].algorithm:')), 'reports the unknown algorithm');
  t.equal(problems.length, expected.length + 1, `no other problems: ${problems.join(' | ')}`);
});

t.test('unknown keys are errors at every level', async (t) => {
  t.same(problemsOf({ ...minimal, extra: 1 }), ['(root): unknown key(s) "extra"']);
  t.same(problemsOf({ ...minimal, routes: [{ path: '/', pool: 'web', strip: true }] }), ['routes[0]: unknown key(s) "strip"']);
  t.same(problemsOf({ ...minimal, pools: [{ ...minimal.pools[0], backends: [{ id: 'x', url: 'http://127.0.0.1:1', wieght: 2 }] }] }), [
    'pools[0].backends[0]: unknown key(s) "wieght"',
  ]);
});

t.test('consistent_hash needs a hash key; host patterns are checked', async (t) => {
  t.same(problemsOf({ ...minimal, pools: [{ ...minimal.pools[0], algorithm: 'consistent_hash' }] }), [
    'pools[0].hashKey: consistent_hash needs hashKey (header:<name>, cookie:<name> or path)',
  ]);
  t.same(problemsOf({ ...minimal, pools: [{ ...minimal.pools[0], algorithm: 'consistent_hash', hashKey: 'header:X-User' }] }), []);
  t.same(problemsOf({ ...minimal, routes: [{ host: 'Example.COM', path: '/', pool: 'web' }] }), [
    'routes[0].host: expected an exact lower-case host, *.suffix or *',
  ]);
  t.same(problemsOf({ ...minimal, routes: [{ host: '*.example.com', path: '/', pool: 'web' }, { host: '*.example.com', path: '/', pool: 'web' }] }), [
    'routes[1]: duplicate route for host and path "*.example.com /"',
  ]);
});

t.test('environment overrides apply before validation and are validated too', async (t) => {
  const config = validateConfig(minimal, 'test.yaml', { VELOFLUX_HTTP_PORT: '8088', VELOFLUX_WORKERS: '3', VELOFLUX_ADMIN_PORT: '9999' });
  t.equal(config.server.http.port, 8088);
  t.equal(config.server.workers, 3);
  t.equal(config.server.admin.port, 9999);
  t.same(problemsOf(minimal, { VELOFLUX_HTTP_PORT: 'eighty' }), ['server.http.port: Invalid input: expected number, received string']);
  t.same(problemsOf(minimal, { VELOFLUX_WORKERS: '0' }).length, 1);
});

t.test('trusted proxies must be addresses or CIDRs', async (t) => {
  t.same(problemsOf({ ...minimal, server: { trustedProxies: ['10.0.0.0/8', '::1', '192.168.1.1'] } }), []);
  t.same(problemsOf({ ...minimal, server: { trustedProxies: ['10.0.0.0/33', 'localhost'] } }), [
    'server.trustedProxies[0]: expected an IP address or CIDR like 10.0.0.0/8',
    'server.trustedProxies[1]: expected an IP address or CIDR like 10.0.0.0/8',
  ]);
});

t.test('YAML syntax errors carry line and column; duplicate keys are errors', async (t) => {
  t.throws(() => parseConfigText('pools:\n  - name: [unclosed\n', 'bad.yaml'), { name: 'ConfigError' });
  try {
    parseConfigText('server:\n  workers: 1\n  workers: 2\n', 'dup.yaml');
    t.fail('duplicate key accepted');
  } catch (err) {
    t.match((err as Error).message, /line 3/);
  }
});
