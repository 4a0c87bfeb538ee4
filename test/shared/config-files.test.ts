/**
 * Files named by the config (certificates, keys, CA bundles) are checked with validation: a
 * missing file, a non-certificate or a key that does not match its certificate is a config error
 * with its path. Health check timings are checked too.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, validateConfig } from '../../src/shared/config/load.js';
import { formatProblem } from '../../src/shared/config/problems.js';

const dir = mkdtempSync(join(tmpdir(), 'veloflux-files-'));
function selfSigned(name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`], { stdio: 'ignore' });
  return { cert, key };
}
const a = selfSigned('a.test');
const b = selfSigned('b.test');
const notPem = join(dir, 'not.pem');
writeFileSync(notPem, 'hello');

const base = { pools: [{ name: 'web', backends: [{ id: 'w', url: 'http://127.0.0.1:1' }] }], routes: [{ path: '/', pool: 'web' }] };
function problems(raw: Record<string, unknown>): string[] {
  try {
    validateConfig({ ...base, ...raw }, 'test', {});
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map(formatProblem);
    throw err;
  }
}

t.test('matching certificate and key pass', async (t) => {
  t.same(problems({ server: { https: { certificates: [a, b] } } }), []);
});

t.test('unreadable, unparseable and mismatched files are errors with their paths', async (t) => {
  const found = problems({
    server: { https: { certificates: [{ cert: join(dir, 'missing.crt'), key: a.key }, { cert: notPem, key: b.key }, { cert: a.cert, key: b.key }] } },
    pools: [{ name: 'web', tls: { ca: notPem }, backends: [{ id: 'w', url: 'https://127.0.0.1:1' }] }],
  });
  t.same(found, [
    `server.https.certificates[0].cert: cannot read "${join(dir, 'missing.crt')}": ENOENT`,
    'server.https.certificates[1].cert: not a PEM certificate',
    `server.https.certificates[2].key: does not match the certificate ${a.cert}`,
    'pools[0].tls.ca: not a PEM certificate',
  ]);
});

t.test('health check timings: zero interval, timeout longer than interval', async (t) => {
  const pool = (healthCheck: Record<string, unknown>) => ({ pools: [{ ...base.pools[0], healthCheck }] });
  t.same(problems(pool({ interval: '0s', timeout: '1s' })), ['pools[0].healthCheck.interval: must be longer than 0']);
  t.same(problems(pool({ interval: '1s', timeout: '2s' })), ['pools[0].healthCheck.timeout: must not be longer than interval (1000 ms)']);
  t.same(problems(pool({ interval: '2s', timeout: '1s' })), []);
});
