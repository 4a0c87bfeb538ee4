/**
 * Issue 14, item 1: a tenant operator must not point its own route at what the tenant could not
 * reach itself. Each refused address is refused with 403 VF_ERR_BACKEND_ADDRESS_DENIED naming the
 * rule, nothing is applied, and the audit entry has the URL and the outcome. A private address
 * passes; a platform admin may override, on the record; a tenant user may not.
 *
 * acme's policy allows 127.0.0.1/32 (so the instance's own ports and another tenant's upstream,
 * all on 127.0.0.1 here, are refused by their own rules, not by "loopback"); globex has the
 * defaults.
 */
import t from 'tap';
import { request } from 'node:http';
import { startVeloflux, TEST_API_ADMIN } from '../helpers/veloflux.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const named = (name: string) => startUpstream((req, res) => void req.resume().on('end', () => res.writeHead(200, { 'x-upstream': name }).end(name)));
const [ACME, GLOBEX] = (await Promise.all([named('acme'), named('globex')])) as [Upstream, Upstream];
t.teardown(() => Promise.all([ACME, GLOBEX].map((u) => u.close())));

const vf = await startVeloflux({
  server: { api: { port: 0, host: '127.0.0.1' } },
  pools: [
    { name: 'acme-web', backends: [{ id: 'acme-1', url: ACME.url }] },
    { name: 'globex-web', backends: [{ id: 'globex-1', url: GLOBEX.url }] },
  ],
  routes: [
    { path: '/acme/', pool: 'acme-web', tenant: 'acme' },
    { path: '/globex/', pool: 'globex-web', tenant: 'globex' },
  ],
  backendPolicy: { tenants: { acme: { allow: ['127.0.0.1/32', '10.0.0.0/8'] } } },
});
t.teardown(() => vf.stop());
const ready = vf.logs().find((l) => l.msg === 'veloflux ready') as { metrics: { port: number } };
const METRICS_PORT = ready.metrics.port;

async function api(path: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${vf.apiUrl}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}
const login = async (email: string, password: string): Promise<string> => (await (await fetch(`${vf.apiUrl}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) })).json()).accessToken;

const created = (res: { status: number; body: unknown }, what: string): void => {
  if (res.status !== 201) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
};
const admin = await login(TEST_API_ADMIN.email, TEST_API_ADMIN.password);
for (const id of ['acme', 'globex']) created(await api('/api/tenants', admin, { id, name: id }), `tenant ${id}`);
const PASSWORD = 'policy-password-0123';
for (const tenant of ['acme', 'globex']) created(await api('/api/admin/users', admin, { email: `${tenant}-op@test.local`, password: PASSWORD, role: 'operator', tenant }), `${tenant} operator`);
const acme = await login('acme-op@test.local', PASSWORD);
const globex = await login('globex-op@test.local', PASSWORD);

/** Which upstream answered GET `path` through the proxy. */
const proxied = (path: string): Promise<string> =>
  new Promise((resolve, reject) => {
    request(`${vf.url}${path}`, { agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d)).on('end', () => resolve(`${res.statusCode} ${body.slice(0, 100)}`));
    })
      .on('error', reject)
      .end();
  });

interface AuditEntry {
  action: string;
  target?: string;
  outcome: string;
  url?: string;
  addressPolicy?: { tenant: string | null; outcome: string; rule?: string };
  actor: { user?: string };
}
const auditOf = async (target: string): Promise<AuditEntry | undefined> =>
  ((await (await vf.admin('/admin/audit?limit=100')).json()) as { entries: AuditEntry[] }).entries.find((e) => e.target === target);
const configured = async (id: string): Promise<boolean> =>
  JSON.stringify(await (await vf.admin('/admin/config')).json()).includes(`"id":"${id}"`);

const REFUSED: [string, string, string, string][] = [
  // [what, backend id, url, rule]
  ["the instance's own /metrics port", 'acme.metrics', `http://127.0.0.1:${METRICS_PORT}`, 'own-listener'],
  ['the admin API port', 'acme.admin', `http://127.0.0.1:${vf.adminPort}`, 'own-listener'],
  ["the proxy's own port", 'acme.proxy', `http://127.0.0.1:${vf.port}`, 'own-listener'],
  ['the main API port', 'acme.api', `http://127.0.0.1:${vf.apiPort}`, 'own-listener'],
  ['the cloud metadata address', 'acme.metadata', 'http://169.254.169.254', 'metadata'],
  ['IPv6 loopback', 'acme.v6', `http://[::1]:${ACME.port}`, 'loopback'],
  ['the unspecified address', 'acme.zero', `http://0.0.0.0:${ACME.port}`, 'unspecified'],
  ["another tenant's upstream", 'acme.theirs', GLOBEX.url, 'other-tenant'],
];

for (const [what, id, url, rule] of REFUSED) {
  t.test(`a tenant operator adding ${what} is refused by rule "${rule}"`, async (t) => {
    const res = await api('/api/backends', acme, { id, pool: 'acme-web', url });
    t.equal(res.status, 403);
    t.equal(res.body.error.code, 'VF_ERR_BACKEND_ADDRESS_DENIED');
    t.match(res.body.error.message, `rule "${rule}"`, 'the message names the rule');
    t.notOk(await configured(id), 'nothing was applied');
    t.match(await auditOf(`acme-web/${id}`), { action: 'backend.add', outcome: 'rejected', url, addressPolicy: { tenant: 'acme', outcome: 'refused', rule }, actor: { user: /acme-op@test.local/ } }, 'audited with the URL and the rule');
  });
}

t.test("the tenant's route still reaches its own upstream, not the metrics", async (t) => {
  t.equal(await proxied('/acme/'), '200 acme');
});

t.test('a host name that resolves to a refused address is refused when added', async (t) => {
  const res = await api('/api/backends', globex, { id: 'globex.local', pool: 'globex-web', url: `http://localhost:${GLOBEX.port}` });
  t.match(res, { status: 403, body: { error: { code: 'VF_ERR_BACKEND_ADDRESS_DENIED', message: /rule "loopback"/ } } });
  t.notOk(await configured('globex.local'));
  t.match(await auditOf('globex-web/globex.local'), { outcome: 'rejected', url: `http://localhost:${GLOBEX.port}`, addressPolicy: { rule: 'loopback' } });
});

t.test('private addresses pass by default; the backend is marked as the tenant\'s', async (t) => {
  const res = await api('/api/backends', globex, { id: 'globex.private', pool: 'globex-web', url: 'http://10.1.2.3:8080', weight: 0 });
  t.equal(res.status, 201, JSON.stringify(res.body));
  const pools = ((await (await vf.admin('/admin/config')).json()) as { pools: { name: string; backends: { id: string; tenant?: string }[] }[] }).pools;
  t.match(pools.find((p) => p.name === 'globex-web')!.backends.find((b) => b.id === 'globex.private'), { tenant: 'globex' }, 'workers hold its connections to the policy too');
  t.match(await auditOf('globex-web/globex.private'), { outcome: 'applied', url: 'http://10.1.2.3:8080', addressPolicy: { tenant: 'globex', outcome: 'allowed' } });
});

t.test('a tenant operator cannot override the policy', async (t) => {
  const res = await api('/api/backends', acme, { id: 'acme.sneaky', pool: 'acme-web', url: 'http://169.254.169.254', allowUnsafeAddress: true });
  t.match(res, { status: 403, body: { error: { code: 'VF_ERR_FORBIDDEN' } } });
  t.notOk(await configured('acme.sneaky'));
});

t.test('a platform admin is held to the tenant pool\'s policy too, and may override it explicitly, on the record', async (t) => {
  const url = `http://127.0.0.1:${ACME.port}`;
  const refused = await api('/api/backends', admin, { id: 'globex-by-admin', pool: 'globex-web', url, weight: 0 });
  t.match(refused, { status: 403, body: { error: { code: 'VF_ERR_BACKEND_ADDRESS_DENIED', message: /rule "loopback"/ } } });
  const res = await api('/api/backends', admin, { id: 'globex-by-admin', pool: 'globex-web', url, weight: 0, allowUnsafeAddress: true });
  t.equal(res.status, 201, JSON.stringify(res.body));
  t.ok(await configured('globex-by-admin'));
  const entries = ((await (await vf.admin('/admin/audit?limit=100')).json()) as { entries: AuditEntry[] }).entries.filter((e) => e.target === 'globex-web/globex-by-admin');
  t.match(entries[0], { outcome: 'applied', url, addressPolicy: { tenant: 'globex', outcome: 'overridden' }, actor: { user: new RegExp(TEST_API_ADMIN.email) } }, 'the override is audited');
});

t.test("a tenant's backend is held to the policy in force on every connection, after DNS", async (t) => {
  // Allowed when added (localhost resolves to 127.0.0.1, which acme's policy allows)...
  const add = await api('/api/backends', acme, { id: 'acme.byname', pool: 'acme-web', url: `http://localhost:${ACME.port}` });
  t.equal(add.status, 201, JSON.stringify(add.body));
  const drain = await fetch(`${vf.apiUrl}/api/backends/acme-1`, { method: 'PUT', headers: { authorization: `Bearer ${acme}`, 'content-type': 'application/json' }, body: JSON.stringify({ drain: true }) });
  t.equal(drain.status, 200);
  t.equal(await proxied('/acme/x'), '200 acme', 'served through the name');
  // ...then the operator denies the name: the workers stop connecting to it, no re-add needed.
  const current = await vf.admin('/admin/config');
  const dynamic = (await current.json()) as { backendPolicy: { tenants: Record<string, { deny?: string[] }> } };
  dynamic.backendPolicy.tenants.acme!.deny = ['localhost'];
  const put = await vf.admin('/admin/config', { method: 'PUT', headers: { 'if-match': current.headers.get('etag')! }, body: JSON.stringify(dynamic) });
  t.equal(put.status, 200, await put.clone().text());
  t.match(await proxied('/acme/x'), /^502 .*VF_ERR_UPSTREAM_CONNECT/, 'a new connection is refused after resolving the name');
});
