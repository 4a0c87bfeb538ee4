/**
 * The backend address policy's rules (issue 14), one row per case: what a tenant's backend may
 * point at, and the rule named when it may not. Config goes through the real schema, so the
 * defaults are the ones `veloflux check` and the running instance use.
 */
import t from 'tap';
import { BackendAddressPolicy } from '../../src/shared/backend-address-policy.js';
import { validateConfig } from '../../src/shared/config/load.js';

const policyOf = (backendPolicy: unknown, tenant: string | null = 'acme', ports = [9090, 8080], local = ['10.0.0.5']) =>
  new BackendAddressPolicy(validateConfig({ backendPolicy }, 'test', {}).backendPolicy, tenant, new Set(ports), new Set(local));

/** The rule refusing `address:port` (named `hostname`), or "allowed". */
const verdict = (policy: BackendAddressPolicy, address: string, port = 80, hostname = address) =>
  policy.refuseName(hostname)?.rule ?? policy.refuseAddress(address, port, hostname)?.rule ?? 'allowed';

t.test('defaults: loopback, link-local, metadata, unspecified and own listeners are refused; private and public ranges pass', async (t) => {
  const policy = policyOf({});
  const rows: [string, number, string][] = [
    ['127.0.0.1', 80, 'loopback'],
    ['127.8.9.10', 80, 'loopback'],
    ['::1', 80, 'loopback'],
    ['::ffff:127.0.0.1', 80, 'loopback'],
    ['169.254.169.254', 80, 'metadata'],
    ['fd00:ec2::254', 80, 'metadata'],
    ['169.254.10.1', 80, 'link-local'],
    ['fe80::1', 80, 'link-local'],
    ['0.0.0.0', 80, 'unspecified'],
    ['::', 80, 'unspecified'],
    ['127.0.0.1', 8080, 'own-listener'],
    ['10.0.0.5', 9090, 'own-listener'],
    ['10.0.0.5', 8081, 'allowed'],
    ['10.1.2.3', 8080, 'allowed'],
    ['192.168.1.10', 80, 'allowed'],
    ['fd12::5', 80, 'allowed'],
    ['203.0.113.7', 443, 'allowed'],
  ];
  for (const [address, port, rule] of rows) t.equal(verdict(policy, address, port), rule, `${address}:${port} -> ${rule}`);
});

t.test('allow: an address entry lifts loopback for what it covers, never metadata or own listeners; when set, nothing else passes', async (t) => {
  const policy = policyOf({ allow: ['127.0.0.1/32', '10.0.0.0/8', '*.svc.example.com'] });
  t.equal(verdict(policy, '127.0.0.1', 3000), 'allowed');
  t.equal(verdict(policy, '127.0.0.2', 3000), 'loopback');
  t.equal(verdict(policy, '127.0.0.1', 8080), 'own-listener');
  t.equal(verdict(policy, '10.9.9.9', 80), 'allowed');
  t.equal(verdict(policy, '192.168.1.1', 80), 'backendPolicy.allow', 'outside the allow list');
  t.equal(verdict(policy, '192.168.1.1', 80, 'api.svc.example.com'), 'allowed', 'a name pattern admits the name');
  t.equal(verdict(policy, '127.0.0.2', 80, 'api.svc.example.com'), 'loopback', 'but its addresses are still checked');
  t.equal(verdict(policyOf({ allow: ['0.0.0.0/0'] }), '169.254.169.254'), 'metadata', 'metadata cannot be allowed');
});

t.test('deny: names and ranges, global and per tenant; a tenant allow replaces the global one', async (t) => {
  const config = { allow: ['10.0.0.0/8'], deny: ['10.66.0.0/16', '*.corp.example.com'], tenants: { acme: { allow: ['192.168.0.0/16'], deny: ['192.168.99.0/24'] } } };
  const acme = policyOf(config, 'acme');
  const globex = policyOf(config, 'globex');
  t.equal(verdict(acme, '10.66.1.1'), 'backendPolicy.deny');
  t.equal(verdict(acme, '192.168.1.1', 80, 'hr.corp.example.com'), 'backendPolicy.deny', 'a denied name, whatever it resolves to');
  t.equal(verdict(acme, '192.168.99.1'), 'backendPolicy.tenants.acme.deny');
  t.equal(verdict(acme, '192.168.1.1'), 'allowed');
  t.equal(verdict(acme, '10.1.1.1'), 'backendPolicy.tenants.acme.allow', "acme's allow list replaces the global one");
  t.equal(verdict(globex, '10.1.1.1'), 'allowed');
  t.equal(verdict(globex, '192.168.99.1'), 'backendPolicy.allow', "acme's deny is not globex's");
});
