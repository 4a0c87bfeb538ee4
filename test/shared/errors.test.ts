import t from 'tap';
import { readFileSync } from 'node:fs';
import { ConfigError, ERRORS, VelofluxError, errorBody, errorFromWire, errorToWire } from '../../src/shared/errors.js';
import { validateConfig } from '../../src/shared/config/load.js';

t.test('every error code is documented in the README with its status', async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const [code, { status }] of Object.entries(ERRORS)) {
    t.match(readme, new RegExp(`\\| \`${code}\` \\| ${status} \\|`), `${code} (${status}) is in the README's error table`);
  }
});

t.test('codes are VF_ERR_*, statuses are 4xx/5xx, and errors carry both', async (t) => {
  for (const [code, { status }] of Object.entries(ERRORS)) {
    t.match(code, /^VF_ERR_[A-Z_]+$/);
    t.ok(status >= 400 && status < 600, `${code}: ${status}`);
  }
  const err = new VelofluxError('VF_ERR_RATE_LIMITED');
  t.same([err.code, err.status, err.message], ['VF_ERR_RATE_LIMITED', 429, ERRORS.VF_ERR_RATE_LIMITED.message]);
  t.same(JSON.parse(errorBody('VF_ERR_NOT_FOUND', 'x')), { error: { code: 'VF_ERR_NOT_FOUND', message: 'x' } });
});

t.test('ConfigError is a VelofluxError with VF_ERR_CONFIG_INVALID and its problems as data', async (t) => {
  const problems = [
    { path: ['routes', 2, 'pool'], message: 'unknown pool "web"' },
    { path: [], message: 'YAML BAD_INDENT at line 3, column 1: bad indentation' },
  ];
  const err = new ConfigError('veloflux.yaml', problems);
  t.ok(err instanceof VelofluxError);
  t.same([err.name, err.code, err.status, err.source], ['ConfigError', 'VF_ERR_CONFIG_INVALID', 422, 'veloflux.yaml']);
  t.same(err.problems, problems);
  t.equal(err.message, 'veloflux.yaml: 2 problem(s)\n  routes[2].pool: unknown pool "web"\n  (root): YAML BAD_INDENT at line 3, column 1: bad indentation', 'the message lists them for logs and `veloflux check`');

  const fromLoader = t.throws(() => validateConfig({ pools: [], routes: [{ path: '/', pool: 'web' }] }, 'test.yaml', {}));
  t.ok(fromLoader instanceof ConfigError && fromLoader instanceof VelofluxError, 'the loader throws it');
  t.match((fromLoader as ConfigError).problems, [{ path: ['routes', 0, 'pool'], message: /unknown pool "web"/ }]);
});

t.test('errors cross the IPC as data: code, message, and a ConfigError\'s source and problems', async (t) => {
  const overJson = (err: unknown) => errorFromWire(JSON.parse(JSON.stringify(errorToWire(err))));
  const config = overJson(new ConfigError('candidate', [{ path: ['pools', 0, 'backends', 1, 'url'], message: 'expected an http:// or https:// origin' }]));
  t.ok(config instanceof ConfigError);
  t.same((config as ConfigError).problems, [{ path: ['pools', 0, 'backends', 1, 'url'], message: 'expected an http:// or https:// origin' }]);
  t.equal((config as ConfigError).source, 'candidate');

  t.match(overJson(new VelofluxError('VF_ERR_BUSY', 'a restart is running')), { code: 'VF_ERR_BUSY', status: 409, message: 'a restart is running' });
  t.match(overJson(new RangeError('boom')), { code: 'VF_ERR_INTERNAL', status: 500, message: 'boom' }, 'not ours: internal, its message kept for the log');
  t.match(errorFromWire({ code: 'VF_ERR_FROM_A_NEWER_BUILD', message: 'x' }), { code: 'VF_ERR_INTERNAL', status: 500 }, 'an unknown code');
});
