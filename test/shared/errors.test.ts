import t from 'tap';
import { readFileSync } from 'node:fs';
import { ERRORS, VelofluxError, errorBody } from '../../src/shared/errors.js';

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
