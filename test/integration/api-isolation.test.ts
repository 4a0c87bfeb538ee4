/**
 * Who may do what on the main API, as one table: every endpoint x every principal -> the status
 * (and error code) a user gets. Principals: the platform admin, operator and viewer (no tenant),
 * an admin, operator and viewer of tenant acme, a viewer of tenant globex, and three callers
 * without a valid token (none, garbage, expired). Tenant users must not read or change another
 * tenant's objects (404 with the not-found code, as for ids that do not exist, and the object is
 * unchanged afterwards), viewers must not write (403), only admins manage users (403), and every
 * error comes in the VeloFlux shape. Backend ids are per tenant: an acme user's backends are
 * "acme.<name>" (issue 14, item 8).
 */
import t, { type Test } from 'tap';
import { createHmac } from 'node:crypto';
import { request } from 'node:http';
import { startVeloflux, TEST_API_ADMIN, TEST_JWT_SECRET } from '../helpers/veloflux.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const named = (name: string) =>
  startUpstream((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'x-upstream': name }).end(name));
  });
const [ACME, GLOBEX, SHARED] = (await Promise.all([named('acme'), named('globex'), named('shared')])) as [Upstream, Upstream, Upstream];
t.teardown(() => Promise.all([ACME, GLOBEX, SHARED].map((u) => u.close())));

const USERS = ['admin', 'operator', 'viewer', 'acmeAdmin', 'acmeOperator', 'acmeViewer', 'globexViewer'] as const;
type Who = (typeof USERS)[number];
const ANONYMOUS = ['none', 'garbage', 'expired'] as const;
type Caller = Who | (typeof ANONYMOUS)[number];

/** One backend per principal in each tenant pool, for the DELETE rows (each principal deletes its own). */
const spare = (prefix: string, url: string) => USERS.map((who) => ({ id: `${prefix}-${who}`, url }));
const vf = await startVeloflux(
  {
    server: { api: { port: 0, host: '127.0.0.1', publicStreams: false, maxBodySize: '4kb' } },
    pools: [
      { name: 'acme-web', backends: [{ id: 'acme-1', url: ACME.url }, ...spare('del-acme', ACME.url)] },
      { name: 'globex-web', backends: [{ id: 'globex-1', url: GLOBEX.url }, ...spare('del-globex', GLOBEX.url)] },
      { name: 'shared', backends: [{ id: 'shared-1', url: SHARED.url }] },
    ],
    routes: [
      { path: '/acme/', pool: 'acme-web', tenant: 'acme' },
      { path: '/globex/', pool: 'globex-web', tenant: 'globex' },
      { path: '/', pool: 'shared' },
    ],
    // The upstreams are on loopback, which the backend address policy refuses by default for a
    // tenant's pool (issue 14; api-backend-policy.test.ts): allowed here, as a one-host setup would.
    backendPolicy: { allow: ['127.0.0.1/32'] },
  },
  { workers: 2 },
);
t.teardown(() => vf.stop());

interface Answer {
  status: number;
  body: any;
}

async function call(path: string, init: { method?: string; token?: string; body?: unknown; raw?: string } = {}): Promise<Answer> {
  const body = init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body));
  // A new connection per call: both workers answer.
  const res = await fetch(`${vf.apiUrl}${path}`, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    headers: { connection: 'close', ...(init.token !== undefined ? { authorization: `Bearer ${init.token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

/** Which upstream answered GET `path` through the proxy. */
function proxied(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${vf.url}${path}`, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? String(res.headers['x-upstream']) : `status ${res.statusCode}`));
    });
    req.on('error', reject);
    req.end();
  });
}

const PASSWORD = 'isolation-password-0123';
const email = (who: string) => `${who.toLowerCase()}@test.local`;
const login = async (address: string, password = PASSWORD): Promise<string> => {
  const res = await call('/api/auth/login', { body: { email: address, password } });
  if (res.status !== 200) throw new Error(`login ${address}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.accessToken as string;
};
const created = (res: Answer, what: string): Answer => {
  if (res.status !== 201) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
  return res;
};

// Setup through the API itself: tenants by the platform admin, users by the admins allowed to.
const tokens = {} as Record<Caller, string | undefined>;
tokens.admin = await login(TEST_API_ADMIN.email, TEST_API_ADMIN.password);
created(await call('/api/tenants', { token: tokens.admin, body: { id: 'acme', name: 'Acme' } }), 'tenant acme');
created(await call('/api/tenants', { token: tokens.admin, body: { id: 'globex', name: 'Globex', plan: 'pro', contact: { email: 'ops@globex.test' } } }), 'tenant globex');
const byAdmin: [Who, string, string | undefined][] = [
  ['operator', 'operator', undefined],
  ['viewer', 'viewer', undefined],
  ['acmeAdmin', 'admin', 'acme'],
  ['globexViewer', 'viewer', 'globex'],
];
await Promise.all(byAdmin.map(async ([who, role, tenant]) => created(await call('/api/admin/users', { token: tokens.admin, body: { email: email(who), password: PASSWORD, role, ...(tenant ? { tenant } : {}) } }), who)));
tokens.acmeAdmin = await login(email('acmeAdmin'));
// A tenant admin creates users of its own tenant without naming it.
const acmeMade = await Promise.all(
  (['acmeOperator', 'acmeViewer'] as const).map(async (who) => created(await call('/api/admin/users', { token: tokens.acmeAdmin, body: { email: email(who), password: PASSWORD, role: who === 'acmeOperator' ? 'operator' : 'viewer' } }), who)),
);
await Promise.all((['operator', 'viewer', 'acmeOperator', 'acmeViewer', 'globexViewer'] as const).map(async (who) => (tokens[who] = await login(email(who)))));
// Accounts the PATCH and DELETE /api/admin/users/{id} rows act on: one to change per tenant, one
// to delete per tenant and admin (each admin deletes its own).
const targets: Record<string, string> = {};
const ADMINS = ['admin', 'acmeAdmin'] as const;
await Promise.all(
  [
    ['patch-platform', null],
    ['patch-acme', 'acme'],
    ['patch-globex', 'globex'],
    ...ADMINS.flatMap((who) => [[`del-acme-${who}`, 'acme'], [`del-globex-${who}`, 'globex']]),
  ].map(async ([name, tenant]) => {
    const res = created(await call('/api/admin/users', { token: tokens.admin, body: { email: email(name!), password: PASSWORD, role: 'viewer', tenant } }), name!);
    targets[name!] = res.body.id as string;
  }),
);
const rootId = (await call('/api/auth/me', { token: tokens.admin })).body.id as string;
tokens.none = undefined;
tokens.garbage = 'garbage.not-a.token';
{
  // The acme admin's own claims, correctly signed, but expired ten minutes ago.
  const claims = JSON.parse(Buffer.from(tokens.acmeAdmin.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  const now = Math.floor(Date.now() / 1000);
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ ...claims, iat: now - 1500, exp: now - 600 })}`;
  tokens.expired = `${input}.${createHmac('sha256', TEST_JWT_SECRET).update(input).digest('base64url')}`;
}

// Traffic on every route, then wait for the primary's feed to carry it (metrics are per route/pool/backend).
for (let i = 0; i < 4; i++) for (const path of ['/acme/x', '/globex/x', '/x']) await proxied(path);
for (const deadline = Date.now() + 5000; ; ) {
  const m = await call('/api/metrics', { token: tokens.admin });
  if (m.status === 200 && ['*/acme/', '*/globex/', '*/'].every((r) => (m.body.routes[r]?.requests ?? 0) >= 4)) break;
  if (Date.now() > deadline) throw new Error(`metrics never showed the traffic: ${JSON.stringify(m.body)}`);
  await new Promise((r) => setTimeout(r, 100));
}

const snapshot = async () => ({
  tenant: (await call('/api/tenants/globex', { token: tokens.admin })).body,
  backend: (await call('/api/backends/globex-1', { token: tokens.admin })).body,
});
const globexBefore = await snapshot();

interface Row {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string | ((who: Caller) => string);
  readonly body?: (who: Caller) => unknown;
  /** Status per principal; a principal left out does not call this row (its call would change B's object legitimately). */
  readonly expect: Partial<Record<Who, number>>;
  /** The code of a 404 (default VF_ERR_NOT_FOUND) and of a 409. */
  readonly notFound?: string;
  readonly conflict?: string;
  /** More checks of a 2xx answer. */
  readonly check?: (t: Test, who: Who, body: any) => void;
}

/** `given`, every other user gets `rest`. */
const fill = (given: Partial<Record<Who, number>>, rest: number): Partial<Record<Who, number>> => ({ ...Object.fromEntries(USERS.map((w) => [w, rest])), ...given });
const PLATFORM = ['admin', 'operator', 'viewer'];
const ACME_USERS = ['acmeAdmin', 'acmeOperator', 'acmeViewer'];
const ids = (list: { id: string }[]) => list.map((x) => x.id).sort();
const sorted = (o: object) => Object.keys(o).sort();

const rows: Row[] = [
  // Tenants: admins only; a tenant admin sees its own, and another tenant's is "not found".
  {
    method: 'GET',
    path: '/api/tenants',
    expect: fill({ admin: 200, acmeAdmin: 200 }, 403),
    check: (t, who, body) => (who === 'admin' ? t.same(ids(body.tenants), ['acme', 'globex']) : t.same(ids(body.tenants), ['acme'], 'only its own tenant')),
  },
  { method: 'GET', path: '/api/tenants/acme', expect: fill({ admin: 200, acmeAdmin: 200 }, 403), check: (t, _who, body) => t.equal(body.id, 'acme') },
  { method: 'GET', path: '/api/tenants/globex', expect: fill({ admin: 200, acmeAdmin: 404 }, 403) },
  { method: 'GET', path: '/api/tenants/nope', expect: fill({ admin: 404, acmeAdmin: 404 }, 403) },
  { method: 'POST', path: '/api/tenants', body: (who) => ({ id: `made-by-${who}`, name: `made by ${who}` }), expect: fill({ admin: 201 }, 403), check: (t, _who, body) => t.match(body, { id: 'made-by-admin', plan: 'free', status: 'active' }) },
  { method: 'PUT', path: '/api/tenants/made-by-admin', body: () => ({ plan: 'pro' }), expect: fill({ admin: 200, acmeAdmin: 404 }, 403), check: (t, _who, body) => t.equal(body.plan, 'pro') },
  { method: 'PUT', path: '/api/tenants/acme', body: () => ({ name: 'Acme Corp' }), expect: fill({ admin: 200, acmeAdmin: 403 }, 403), check: (t, _who, body) => t.equal(body.name, 'Acme Corp') },
  { method: 'PUT', path: '/api/tenants/globex', body: () => ({ name: 'Taken over', status: 'suspended' }), expect: { operator: 403, viewer: 403, acmeAdmin: 404, acmeOperator: 403, acmeViewer: 403, globexViewer: 403 } },
  { method: 'PUT', path: '/api/tenants/nope', body: () => ({ plan: 'pro' }), expect: fill({ admin: 404, acmeAdmin: 404 }, 403) },
  { method: 'DELETE', path: '/api/tenants/globex', expect: fill({ admin: 409, acmeAdmin: 404 }, 403), conflict: 'VF_ERR_TENANT_IN_USE' },
  { method: 'DELETE', path: '/api/tenants/acme', expect: fill({ admin: 409, acmeAdmin: 403 }, 403), conflict: 'VF_ERR_TENANT_IN_USE' },
  { method: 'DELETE', path: '/api/tenants/made-by-admin', expect: fill({ admin: 204, acmeAdmin: 404 }, 403) },
  { method: 'DELETE', path: '/api/tenants/nope', expect: fill({ admin: 404, acmeAdmin: 404 }, 403) },

  // Users: admins only; a tenant admin lists and creates users of its tenant only.
  {
    method: 'GET',
    path: '/api/admin/users',
    expect: fill({ admin: 200, acmeAdmin: 200 }, 403),
    check: (t, who, body) => {
      const list = body.users as { email: string; tenant: string | null }[];
      if (who === 'admin') t.ok([TEST_API_ADMIN.email, ...USERS.slice(1).map(email)].every((e) => list.some((u) => u.email === e)), 'every user');
      else {
        t.same([...new Set(list.map((u) => u.tenant))], ['acme'], 'the acme users only');
        t.ok(ACME_USERS.every((w) => list.some((u) => u.email === email(w))), 'all of them');
      }
    },
  },
  {
    method: 'POST',
    path: '/api/admin/users',
    body: (who) => ({ email: `made-by-${who.toLowerCase()}@test.local`, password: PASSWORD, role: 'viewer' }),
    expect: fill({ admin: 201, acmeAdmin: 201 }, 403),
    check: (t, who, body) => t.equal(body.tenant, who === 'admin' ? null : 'acme', 'in the tenant of the admin who made it'),
  },
  // Naming another tenant answers like naming one that does not exist: its existence is not confirmed.
  { method: 'POST', path: '/api/admin/users', body: (who) => ({ email: `globex-by-${who.toLowerCase()}@test.local`, password: PASSWORD, role: 'admin', tenant: 'globex' }), expect: fill({ admin: 201, acmeAdmin: 400 }, 403) },
  { method: 'POST', path: '/api/admin/users', body: (who) => ({ email: `nope-by-${who.toLowerCase()}@test.local`, password: PASSWORD, role: 'viewer', tenant: 'nope' }), expect: fill({ admin: 400, acmeAdmin: 400 }, 403) },
  // Changing and deleting accounts (issue 14, item 7): a tenant admin reaches its tenant's only;
  // another tenant's account or a platform one answers like a missing id.
  { method: 'PATCH', path: () => `/api/admin/users/${targets['patch-acme']}`, body: () => ({ role: 'operator' }), expect: fill({ admin: 200, acmeAdmin: 200 }, 403), check: (t, _who, body) => t.match(body, { email: email('patch-acme'), role: 'operator', tenant: 'acme' }) },
  { method: 'PATCH', path: () => `/api/admin/users/${targets['patch-globex']}`, body: () => ({ disabled: true }), expect: fill({ admin: 200, acmeAdmin: 404 }, 403), check: (t, _who, body) => t.match(body, { disabled: true }) },
  { method: 'PATCH', path: () => `/api/admin/users/${targets['patch-platform']}`, body: () => ({ role: 'operator' }), expect: fill({ admin: 200, acmeAdmin: 404 }, 403) },
  { method: 'PATCH', path: '/api/admin/users/nope', body: () => ({ role: 'operator' }), expect: fill({ admin: 404, acmeAdmin: 404 }, 403) },
  { method: 'PATCH', path: () => `/api/admin/users/${rootId}`, body: () => ({ role: 'operator' }), expect: fill({ admin: 409, acmeAdmin: 404 }, 403), conflict: 'VF_ERR_LAST_ADMIN' },
  { method: 'DELETE', path: (who) => `/api/admin/users/${targets[`del-acme-${who}`] ?? targets['del-acme-admin']}`, expect: fill({ admin: 204, acmeAdmin: 204 }, 403) },
  { method: 'DELETE', path: (who) => `/api/admin/users/${targets[`del-globex-${who}`] ?? targets['del-globex-admin']}`, expect: fill({ admin: 204, acmeAdmin: 404 }, 403) },
  { method: 'DELETE', path: '/api/admin/users/nope', expect: fill({ admin: 404, acmeAdmin: 404 }, 403) },
  { method: 'DELETE', path: () => `/api/admin/users/${rootId}`, expect: fill({ admin: 409, acmeAdmin: 404 }, 403), conflict: 'VF_ERR_LAST_ADMIN' },

  // Instance-wide data: platform users only.
  {
    method: 'GET',
    path: '/api/admin/stats',
    expect: fill({ admin: 200 }, 403),
    check: (t, _who, body) => t.match(body, { pools: 3, routes: 3, tenants: 2, backends: Number, users: Number, requests: Number }),
  },
  { method: 'GET', path: '/api/admin/logs?limit=5', expect: fill({ admin: 200 }, 403), check: (t, _who, body) => t.ok(Array.isArray(body.lines) && body.lines.length > 0, 'log lines') },
  { method: 'GET', path: '/api/alerts', expect: fill({ admin: 200, operator: 200, viewer: 200 }, 403), check: (t, _who, body) => t.ok(Array.isArray(body.alerts)) },

  // Backends: viewers read, operators write, each within what its tenant owns.
  {
    method: 'GET',
    path: '/api/backends',
    expect: fill({}, 200),
    check: (t, who, body) => {
      const pools = new Set((body.backends as { pool: string }[]).map((b) => b.pool));
      const want = PLATFORM.includes(who) ? ['acme-web', 'globex-web', 'shared'] : ACME_USERS.includes(who) ? ['acme-web'] : ['globex-web'];
      t.same([...pools].sort(), want, `pools of the backends listed: ${want.join(', ')}`);
    },
  },
  { method: 'GET', path: '/api/backends/acme-1', expect: fill({ globexViewer: 404 }, 200), notFound: 'VF_ERR_BACKEND_NOT_FOUND', check: (t, _who, body) => t.match(body, { id: 'acme-1', pool: 'acme-web' }) },
  { method: 'GET', path: '/api/backends/globex-1', expect: fill({ acmeAdmin: 404, acmeOperator: 404, acmeViewer: 404 }, 200), notFound: 'VF_ERR_BACKEND_NOT_FOUND' },
  { method: 'GET', path: '/api/backends/shared-1', expect: fill({ admin: 200, operator: 200, viewer: 200 }, 404), notFound: 'VF_ERR_BACKEND_NOT_FOUND' },
  { method: 'GET', path: '/api/backends/nope', expect: fill({}, 404), notFound: 'VF_ERR_BACKEND_NOT_FOUND' },
  {
    method: 'POST',
    path: '/api/backends',
    body: (who) => ({ id: `acme-new-${who}`, pool: 'acme-web', url: ACME.url }),
    expect: fill({ admin: 201, operator: 201, acmeAdmin: 201, acmeOperator: 201 }, 403),
    // A tenant user's id lands in its tenant's name space; a platform user's stays as given.
    check: (t, who, body) => t.same(body, { id: `${ACME_USERS.includes(who) ? 'acme.' : ''}acme-new-${who}`, pool: 'acme-web', url: ACME.url, weight: 1, drain: false }),
  },
  {
    method: 'GET',
    path: (who) => `/api/backends/${ACME_USERS.includes(who) ? 'acme.' : ''}acme-new-${who === 'acmeViewer' ? 'acmeOperator' : who}`,
    expect: fill({ admin: 200, operator: 200, acmeAdmin: 200, acmeOperator: 200, acmeViewer: 200 }, 404),
    notFound: 'VF_ERR_BACKEND_NOT_FOUND',
    check: (t, who, body) => t.match(body.id, ACME_USERS.includes(who) ? /^acme\.acme-new-/ : /^acme-new-/, 'the id as the list shows it'),
  },
  { method: 'POST', path: '/api/backends', body: (who) => ({ id: `new-globex-${who}`, pool: 'globex-web', url: GLOBEX.url }), expect: fill({ admin: 201, operator: 201, acmeAdmin: 404, acmeOperator: 404 }, 403), notFound: 'VF_ERR_POOL_NOT_FOUND' },
  { method: 'POST', path: '/api/backends', body: (who) => ({ id: `new-shared-${who}`, pool: 'shared', url: SHARED.url }), expect: fill({ admin: 201, operator: 201, acmeAdmin: 404, acmeOperator: 404 }, 403), notFound: 'VF_ERR_POOL_NOT_FOUND' },
  { method: 'POST', path: '/api/backends', body: (who) => ({ id: `new-nope-${who}`, pool: 'nope', url: SHARED.url }), expect: fill({ admin: 404, operator: 404, acmeAdmin: 404, acmeOperator: 404 }, 403), notFound: 'VF_ERR_POOL_NOT_FOUND' },
  { method: 'PUT', path: '/api/backends/acme-1', body: () => ({ weight: 2 }), expect: fill({ admin: 200, operator: 200, acmeAdmin: 200, acmeOperator: 200 }, 403), check: (t, _who, body) => t.match(body, { id: 'acme-1', weight: 2 }) },
  { method: 'PUT', path: '/api/backends/globex-1', body: () => ({ drain: true, weight: 0 }), expect: { viewer: 403, acmeAdmin: 404, acmeOperator: 404, acmeViewer: 403, globexViewer: 403 }, notFound: 'VF_ERR_BACKEND_NOT_FOUND' },
  { method: 'PUT', path: '/api/backends/shared-1', body: () => ({ weight: 1 }), expect: fill({ admin: 200, operator: 200, acmeAdmin: 404, acmeOperator: 404 }, 403), notFound: 'VF_ERR_BACKEND_NOT_FOUND' },
  { method: 'PUT', path: '/api/backends/nope', body: () => ({ weight: 1 }), expect: fill({ admin: 404, operator: 404, acmeAdmin: 404, acmeOperator: 404 }, 403), notFound: 'VF_ERR_BACKEND_NOT_FOUND' },
  { method: 'DELETE', path: (who) => `/api/backends/del-acme-${who}`, expect: fill({ admin: 204, operator: 204, acmeAdmin: 204, acmeOperator: 204 }, 403), notFound: 'VF_ERR_BACKEND_NOT_FOUND' },
  { method: 'DELETE', path: (who) => `/api/backends/del-globex-${who}`, expect: fill({ admin: 204, operator: 204, acmeAdmin: 404, acmeOperator: 404 }, 403), notFound: 'VF_ERR_BACKEND_NOT_FOUND' },
  { method: 'DELETE', path: '/api/backends/globex-1', expect: { viewer: 403, acmeAdmin: 404, acmeOperator: 404, acmeViewer: 403, globexViewer: 403 }, notFound: 'VF_ERR_BACKEND_NOT_FOUND' },
  { method: 'DELETE', path: '/api/backends/nope', expect: fill({ admin: 404, operator: 404, acmeAdmin: 404, acmeOperator: 404 }, 403), notFound: 'VF_ERR_BACKEND_NOT_FOUND' },

  // Metrics and status need a token here (publicStreams: false); tenant users see their own keys only.
  {
    method: 'GET',
    path: '/api/metrics',
    expect: fill({}, 200),
    check: (t, who, body) => {
      if (PLATFORM.includes(who)) {
        t.ok(body.totals !== null && body.totals.requests >= 12, 'instance totals');
        t.same(sorted(body.routes), ['*/', '*/acme/', '*/globex/']);
        t.same(sorted(body.pools), ['acme-web', 'globex-web', 'shared']);
        return;
      }
      const [tenant, other] = ACME_USERS.includes(who) ? ['acme', 'globex'] : ['globex', 'acme'];
      t.equal(body.totals, null, 'no instance totals');
      t.same(sorted(body.routes), [`*/${tenant}/`], `routes: only */${tenant}/`);
      t.same(sorted(body.pools), [`${tenant}-web`], `pools: only ${tenant}-web`);
      const backends = sorted(body.backends);
      t.ok(backends.includes(`${tenant}-1`) && backends.every((id) => id.includes(tenant) && !id.includes(other) && !id.includes('shared')), `backends: only ${tenant}'s (${backends.join(', ')})`);
    },
  },
  { method: 'GET', path: '/api/metrics/realtime', expect: fill({ admin: 200, operator: 200, viewer: 200 }, 403) },
  {
    method: 'GET',
    path: '/api/status',
    expect: fill({}, 200),
    check: (t, who, body) => {
      const pools = (body.pools as { name: string }[]).map((p) => p.name).sort();
      t.same(pools, PLATFORM.includes(who) ? ['acme-web', 'globex-web', 'shared'] : ACME_USERS.includes(who) ? ['acme-web'] : ['globex-web'], `status pools for ${who}`);
    },
  },
];

const ANONYMOUS_CODE: Record<(typeof ANONYMOUS)[number], string> = { none: 'VF_ERR_AUTH_REQUIRED', garbage: 'VF_ERR_AUTH_INVALID', expired: 'VF_ERR_TOKEN_EXPIRED' };
const codeFor = (row: Row, status: number): string | undefined =>
  ({ 400: 'VF_ERR_VALIDATION', 403: 'VF_ERR_FORBIDDEN', 404: row.notFound ?? 'VF_ERR_NOT_FOUND', 409: row.conflict })[status];

t.test('setup (through the API): tenant users made by a tenant admin belong to its tenant', async (t) => {
  t.same(
    acmeMade.map((r) => [r.body.email, r.body.role, r.body.tenant]),
    [
      [email('acmeOperator'), 'operator', 'acme'],
      [email('acmeViewer'), 'viewer', 'acme'],
    ],
  );
});

t.test('the matrix: endpoint x principal -> status and code', async (t) => {
  let cells = 0;
  for (const row of rows) {
    const callers: [Caller, number, string | undefined][] = [
      ...USERS.filter((w) => row.expect[w] !== undefined).map((w): [Caller, number, string | undefined] => [w, row.expect[w]!, undefined]),
      ...ANONYMOUS.map((a): [Caller, number, string | undefined] => [a, 401, ANONYMOUS_CODE[a]]),
    ];
    for (const [who, status, anonymousCode] of callers) {
      const path = typeof row.path === 'function' ? row.path(who) : row.path;
      const label = `${row.method} ${path} as ${who}`;
      const res = await call(path, { method: row.method, ...(tokens[who] !== undefined ? { token: tokens[who] } : {}), ...(row.body !== undefined ? { body: row.body(who) } : {}) });
      cells++;
      if (res.status !== status) {
        t.fail(`${label}: ${status} expected, got ${res.status} ${JSON.stringify(res.body)}`);
        continue;
      }
      if (status >= 400) {
        const code = anonymousCode ?? codeFor(row, status);
        t.match(res.body, { error: { code: /^VF_ERR_[A-Z_]+$/, message: String } }, `${label}: ${status} in the VeloFlux error shape`);
        if (code !== undefined) t.equal(res.body.error.code, code, `${label}: ${status} ${code}`);
      } else {
        t.pass(`${label}: ${status}`);
        if (!(who in ANONYMOUS_CODE)) row.check?.(t, who as Who, res.body);
      }
    }
  }
  t.comment(`matrix: ${rows.length} endpoints x up to ${USERS.length + ANONYMOUS.length} principals = ${cells} cells`);
  t.ok(cells >= 300, `${cells} cells checked`);
});

t.test("tenant acme changed nothing of globex's", async (t) => {
  t.same(await snapshot(), globexBefore, 'tenant globex and backend globex-1 exactly as before (updatedAt included)');
  const asAdmin = (path: string) => call(path, { token: tokens.admin });
  for (const who of ['acmeAdmin', 'acmeOperator', 'viewer', 'acmeViewer', 'globexViewer']) {
    t.equal((await asAdmin(`/api/backends/del-globex-${who}`)).status, 200, `del-globex-${who} still exists`);
  }
  for (const who of ['admin', 'operator']) t.equal((await asAdmin(`/api/backends/del-globex-${who}`)).status, 404, `del-globex-${who} was deleted by the platform ${who}`);
  for (const who of ['acmeAdmin', 'acmeOperator']) t.equal((await asAdmin(`/api/backends/new-globex-${who}`)).status, 404, `new-globex-${who} was never added`);
  const users = (await asAdmin('/api/admin/users')).body.users as { email: string; tenant: string | null }[];
  t.same(
    users.filter((u) => u.tenant === 'globex').map((u) => u.email).sort(),
    [email('del-globex-acmeAdmin'), 'globex-by-admin@test.local', email('globexViewer'), email('patch-globex')],
    'the globex users: only those the platform admin made, less the one it deleted (the acme admin deleted none)',
  );
  t.match(users.find((u) => u.email === email('patch-globex')), { disabled: true, role: 'viewer' }, 'changed by the platform admin only');
  const answered = new Set<string>();
  for (let i = 0; i < 8; i++) answered.add(await proxied('/globex/x'));
  t.same([...answered], ['globex'], 'globex traffic still reaches globex');
});

t.test('another tenant answers exactly like one that does not exist', async (t) => {
  const as = (path: string, init: { method?: string; body?: unknown } = {}) => call(path, { token: tokens.acmeOperator, ...init });
  const pairs: [string, Answer, Answer][] = [
    ['GET backend', await as('/api/backends/globex-1'), await as('/api/backends/nope-1')],
    ['PUT backend', await as('/api/backends/globex-1', { method: 'PUT', body: { weight: 0 } }), await as('/api/backends/nope-1', { method: 'PUT', body: { weight: 0 } })],
    ['DELETE backend', await as('/api/backends/globex-1', { method: 'DELETE' }), await as('/api/backends/nope-1', { method: 'DELETE' })],
    ['POST into pool', await as('/api/backends', { body: { id: 'z1', pool: 'globex-web', url: ACME.url } }), await as('/api/backends', { body: { id: 'z1', pool: 'nope-web', url: ACME.url } })],
    // Ids are per tenant: another tenant's id is refused for its shape, never with "already exists"...
    ['POST with its id', await as('/api/backends', { body: { id: 'globex.z1', pool: 'acme-web', url: ACME.url } }), await as('/api/backends', { body: { id: 'nope.z1', pool: 'acme-web', url: ACME.url } })],
    // ...and a short name that is another tenant's id lands in one's own space, like any other.
    ['POST a platform id', await as('/api/backends', { body: { id: 'globex-1', pool: 'acme-web', url: ACME.url } }), await as('/api/backends', { body: { id: 'nope-1', pool: 'acme-web', url: ACME.url } })],
  ];
  const adminOf = (path: string, init: { method?: string; body?: unknown } = {}) => call(path, { token: tokens.acmeAdmin, ...init });
  pairs.push(['GET tenant', await adminOf('/api/tenants/globex'), await adminOf('/api/tenants/nope')]);
  pairs.push(['DELETE tenant', await adminOf('/api/tenants/globex', { method: 'DELETE' }), await adminOf('/api/tenants/nope', { method: 'DELETE' })]);
  pairs.push(['user in tenant', await adminOf('/api/admin/users', { body: { email: 'x1@test.local', password: PASSWORD, role: 'viewer', tenant: 'globex' } }), await adminOf('/api/admin/users', { body: { email: 'x1@test.local', password: PASSWORD, role: 'viewer', tenant: 'nope' } })]);
  for (const [what, other, missing] of pairs) {
    const normalise = (a: Answer) => JSON.stringify(a).replace(/globex-1|globex-web|globex/g, 'X').replace(/nope-1|nope-web|nope/g, 'X');
    t.equal(normalise(other), normalise(missing), `${what}: ${other.status} ${other.body.error?.code ?? other.body.id}, same as for a missing id`);
  }
});

t.test('schema-invalid bodies: 400 VF_ERR_VALIDATION listing every field', async (t) => {
  const cases: [string, string, string, unknown, string[], Caller][] = [
    ['POST', '/api/backends', 'missing, wrong-typed and unknown fields', { pool: 5, weight: 'heavy', extra: true }, ['body.extra', 'body.id', 'body.pool', 'body.url', 'body.weight'], 'acmeOperator'],
    ['PUT', '/api/backends/acme-1', 'out of range and wrong type', { weight: -1, drain: 'yes' }, ['body.drain', 'body.weight'], 'acmeOperator'],
    ['PUT', '/api/backends/acme-1', 'no field at all', {}, ['body'], 'acmeOperator'],
    ['POST', '/api/tenants', 'bad id, empty name, unknown status', { id: 'bad id!', name: '', status: 'gone' }, ['body.id', 'body.name', 'body.status'], 'admin'],
    ['POST', '/api/admin/users', 'missing password, unknown role', { email: 'someone@test.local', role: 'root' }, ['body.password', 'body.role'], 'acmeAdmin'],
    ['POST', '/api/auth/login', 'login without a password', { email: 'a@test.local' }, ['body.password'], 'none'],
    ['GET', '/api/admin/logs?level=loud&limit=x', 'query string', undefined, ['querystring.level', 'querystring.limit'], 'admin'],
  ];
  for (const [method, path, what, body, fields, who] of cases) {
    const res = await call(path, { method, ...(tokens[who] !== undefined ? { token: tokens[who] } : {}), ...(body !== undefined ? { body } : {}) });
    t.equal(res.status, 400, `${method} ${path} (${what}): 400`);
    t.equal(res.body?.error?.code, 'VF_ERR_VALIDATION');
    t.same([...new Set((res.body?.error?.fields ?? []).map((f: { field: string }) => f.field))].sort(), fields, `fields: ${fields.join(', ')}`);
  }
  const broken = await call('/api/backends', { token: tokens.acmeOperator, raw: '{"id": "x",' });
  t.match(broken, { status: 400, body: { error: { code: 'VF_ERR_INVALID_JSON' } } }, 'broken JSON: 400 VF_ERR_INVALID_JSON');
  t.same((await call('/api/backends', { token: tokens.admin })).body.backends.filter((b: { id: string }) => b.id === 'x'), [], 'nothing was added');
});

t.test('a body over server.api.maxBodySize (4kb): 413 VF_ERR_BODY_TOO_LARGE', async (t) => {
  const big = { id: 'big', pool: 'acme-web', url: ACME.url, note: 'x'.repeat(5000) };
  const res = await call('/api/backends', { token: tokens.acmeOperator, body: big });
  t.equal(res.status, 413, 'POST /api/backends with 5 KB: 413');
  t.match(res.body, { error: { code: 'VF_ERR_BODY_TOO_LARGE', message: /larger than 4096 bytes/ } });
  const login = await call('/api/auth/login', { body: { email: 'a@test.local', password: 'p'.repeat(5000) } });
  t.match(login, { status: 413, body: { error: { code: 'VF_ERR_BODY_TOO_LARGE' } } }, 'POST /api/auth/login with 5 KB: 413');
  const under = await call('/api/backends', { token: tokens.acmeOperator, body: { ...big, note: 'x'.repeat(3500) } });
  t.match(under, { status: 400, body: { error: { code: 'VF_ERR_VALIDATION', fields: [{ field: 'body.note' }] } } }, 'the same under the limit is read (and refused for its unknown field)');
  t.equal((await call('/api/backends/big', { token: tokens.admin })).status, 404, 'nothing was added');
});
