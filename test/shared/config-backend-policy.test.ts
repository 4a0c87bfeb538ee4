/**
 * `backendPolicy` in the config (issue 14) as `veloflux check` sees it: defaults, and every
 * malformed entry reported with its path, exit 1.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { validateConfig } from '../../src/shared/config/load.js';
import { CLI } from '../helpers/veloflux.js';

const base = { pools: [{ name: 'web', backends: [{ id: 'w', url: 'http://10.0.0.5:8080' }] }], routes: [{ path: '/', pool: 'web' }] };

function check(config: Record<string, unknown>): { status: number | null; out: string } {
  const file = join(mkdtempSync(join(tmpdir(), 'veloflux-policy-')), 'veloflux.yaml');
  writeFileSync(file, stringify({ ...base, ...config }));
  const run = spawnSync(process.execPath, [CLI, 'check', file], { encoding: 'utf8' });
  return { status: run.status, out: run.stdout + run.stderr };
}

t.test('absent: empty lists, so only the built-in refusals apply', async (t) => {
  t.same(validateConfig(base, 'test', {}).backendPolicy, { allow: [], deny: [], tenants: {} });
});

t.test('veloflux check accepts addresses, CIDRs, names and *.suffix patterns, globally and per tenant', async (t) => {
  const run = check({ backendPolicy: { allow: ['10.0.0.0/8', 'fd00::/8', 'api.example.com'], deny: ['10.66.0.5', '*.corp.example.com'], tenants: { acme: { allow: ['192.168.0.0/16'] }, globex: { deny: ['10.1.0.0/16'] } } } });
  t.equal(run.status, 0, run.out);
});

t.test('veloflux check lists every malformed entry with its path and exits 1', async (t) => {
  const run = check({
    backendPolicy: { allow: ['10.0.0.0/33', 'API.example.com'], deny: ['*.'], tenants: { acme: { allow: ['10.0.0.0/8'], deny: ['not a host'], bogus: [] }, 'bad tenant!': {} }, extra: true },
  });
  t.equal(run.status, 1);
  for (const line of [
    /backendPolicy: unknown key\(s\) "extra"/,
    /backendPolicy\.allow\[0\]: expected an IP address, a CIDR/,
    /backendPolicy\.allow\[1\]: expected an IP address, a CIDR/,
    /backendPolicy\.deny\[0\]: expected an IP address, a CIDR/,
    /backendPolicy\.tenants\.acme: unknown key\(s\) "bogus"/,
    /backendPolicy\.tenants\.acme\.deny\[0\]: expected an IP address, a CIDR/,
    /backendPolicy\.tenants\.bad tenant!/,
  ]) t.match(run.out, line);
});

t.test('a backend may carry the tenant that added it; it must be a tenant id', async (t) => {
  const pools = (tenant: unknown) => [{ name: 'web', backends: [{ id: 'w', url: 'http://10.0.0.5:8080', tenant }] }];
  t.equal(validateConfig({ ...base, pools: pools('acme') }, 'test', {}).pools[0]!.backends[0]!.tenant, 'acme');
  t.match(check({ pools: pools('not a tenant') }).out, /pools\[0\]\.backends\[0\]\.tenant/);
});
