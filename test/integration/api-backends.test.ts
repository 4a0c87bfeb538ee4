/**
 * Backend CRUD through the main API changes live routing within one response and survives a
 * restart. Every "within one response" check sends traffic through the proxy right after the
 * API answered (no sleep) and maps each upstream connection back to the worker process that
 * opened it, so "applied" is proven on both workers, not on whichever one answered the API.
 */
import t from 'tap';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { request } from 'node:http';
import { launchVeloflux, TEST_API_ADMIN, writeConfig, type RunningVeloflux } from '../helpers/veloflux.js';
import { apiCall, type ApiAnswer, type ApiCall } from '../helpers/api.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { childPids } from '../helpers/processes.js';

type Instance = RunningVeloflux & { readonly pid: number };

async function launch(configFile: string): Promise<Instance> {
  const vf = await launchVeloflux(configFile, {});
  return Object.assign(vf, { pid: vf.process.pid! });
}

/** Upstreams that say who they are and from which local port the proxy's connection came. */
const named = (name: string) =>
  startUpstream((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'x-upstream': name, 'x-peer-port': String(req.socket.remotePort) }).end(name));
  });
const [A, B, C] = (await Promise.all([named('A'), named('B'), named('C')])) as [Upstream, Upstream, Upstream];
t.teardown(() => Promise.all([A, B, C].map((u) => u.close())));

// The health check is there so GET shows `healthy: true`; lenient, so a loaded machine (probes
// timing out) does not take a out of rotation in the middle of a traffic check.
const configFile = writeConfig(
  {
    pools: [{ name: 'web', backends: [{ id: 'a', url: A.url }], healthCheck: { path: '/', interval: '1s', timeout: '1s', unhealthyThreshold: 5 } }],
    routes: [{ path: '/', pool: 'web' }],
  },
  { workers: 2 },
);
let vf = await launch(configFile);
t.teardown(() => vf.stop());

const api = (path: string, init: ApiCall = {}): Promise<ApiAnswer> => apiCall(vf.apiUrl, path, init);

/** Socket inode -> pid, for the given processes. */
function socketOwners(pids: number[]): Map<string, number> {
  const owners = new Map<string, number>();
  for (const pid of pids) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) owners.set(m[1]!, pid);
      } catch {
        // closed meanwhile
      }
    }
  }
  return owners;
}

/** The pid owning the TCP socket whose local port is `port` (the proxy's side of an upstream connection). */
function pidOfLocalPort(port: number, owners: Map<string, number>): number | undefined {
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      if (parseInt(f[1]!.split(':')[1]!, 16) === port && owners.has(f[9]!)) return owners.get(f[9]!);
    }
  }
  return undefined;
}

function getOnce(): Promise<{ who: string; peerPort: number }> {
  return new Promise((resolve) => {
    const req = request(`${vf.url}/`, { agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ who: res.statusCode === 200 ? String(res.headers['x-upstream']) : `status ${res.statusCode}`, peerPort: Number(res.headers['x-peer-port']) }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ who: `error ${err.code ?? err.message}`, peerPort: 0 }));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

interface Traffic {
  /** Responses per upstream. */
  counts: Record<string, number>;
  /** Per upstream, how many distinct worker processes sent it requests. */
  workers: Record<string, number>;
}

/** `n` requests through the proxy, each on a new connection (so both workers take some). */
async function traffic(n: number): Promise<Traffic> {
  const seen: { who: string; peerPort: number }[] = [];
  for (let i = 0; i < n; i++) seen.push(await getOnce());
  // The proxy keeps its upstream connections alive: map them to worker pids while they are open.
  const owners = socketOwners(childPids(vf.pid));
  const counts: Record<string, number> = {};
  const pids: Record<string, Set<number>> = {};
  for (const { who, peerPort } of seen) {
    counts[who] = (counts[who] ?? 0) + 1;
    const pid = pidOfLocalPort(peerPort, owners);
    if (pid !== undefined) (pids[who] ??= new Set()).add(pid);
  }
  return { counts, workers: Object.fromEntries(Object.entries(pids).map(([who, set]) => [who, set.size])) };
}

/** Responses per upstream over the whole run, to compare with the feed's per-backend request counters. */
const answered: Record<string, number> = { A: 0, B: 0, C: 0 };
const tally = (tr: Traffic) => {
  for (const [who, n] of Object.entries(tr.counts)) answered[who] = (answered[who] ?? 0) + n;
  return tr;
};

const adminToken = (await api('/api/auth/login', { body: TEST_API_ADMIN })).body.accessToken as string;
const OPERATOR = { email: 'operator@test.local', password: 'operator-password-0123' };
const created = await api('/api/admin/users', { token: adminToken, body: { ...OPERATOR, role: 'operator' } });
const operatorId = created.body.id as string;
const operator = (await api('/api/auth/login', { body: OPERATOR })).body.accessToken as string;
t.equal(childPids(vf.pid).length, 2, 'two workers');

t.test('add, drain, weight and delete through the API take effect on both workers before the answer', async (t) => {
  const before = tally(await traffic(12));
  t.same(before.counts, { A: 12 }, 'at first only a answers');

  const add = await api('/api/backends', { token: operator, body: { id: 'b', pool: 'web', url: B.url } });
  t.equal(add.status, 201, 'POST /api/backends: 201');
  t.same(add.body, { id: 'b', pool: 'web', url: B.url, weight: 1, drain: false }, 'answers with the backend as configured');
  const afterAdd = tally(await traffic(24));
  t.same(Object.keys(afterAdd.counts).sort(), ['A', 'B'], `the very next requests reach b as well (${JSON.stringify(afterAdd.counts)})`);
  t.ok(afterAdd.counts.B! >= 10 && afterAdd.counts.B! <= 14, `round robin a/b on each worker: b took ${afterAdd.counts.B} of 24`);
  t.equal(afterAdd.workers.B, 2, 'b was reached from both worker processes');

  const drain = await api('/api/backends/a', { method: 'PUT', token: operator, body: { drain: true } });
  t.equal(drain.status, 200, 'PUT drain: 200');
  t.match(drain.body, { id: 'a', pool: 'web', weight: 1, drain: true });
  const afterDrain = tally(await traffic(24));
  t.same(afterDrain.counts, { B: 24 }, 'a drained: the very next requests all go to b');
  t.equal(afterDrain.workers.B, 2, 'on both workers');

  const weight = await api('/api/backends/a', { method: 'PUT', token: operator, body: { drain: false, weight: 3 } });
  t.equal(weight.status, 200, 'PUT weight: 200');
  t.match(weight.body, { id: 'a', weight: 3, drain: false });
  const afterWeight = tally(await traffic(40));
  t.same(Object.keys(afterWeight.counts).sort(), ['A', 'B'], 'a back in');
  t.ok(afterWeight.counts.A! >= 26 && afterWeight.counts.A! <= 34, `a (weight 3) takes about 3 in 4: ${JSON.stringify(afterWeight.counts)}`);
  t.equal(afterWeight.workers.A, 2, 'a undrained on both workers');

  // The live fields come from the primary's once-a-second feed: allow it to catch up.
  let list: { status: number; body: any } = { status: 0, body: undefined };
  const deadline = Date.now() + 1500;
  do {
    list = await api('/api/backends', { token: operator });
    const byId = new Map((list.body.backends as { id: string; requests?: number }[]).map((b) => [b.id, b]));
    if (byId.get('a')?.requests === answered.A && byId.get('b')?.requests === answered.B) break;
    await new Promise((r) => setTimeout(r, 100));
  } while (Date.now() < deadline);
  t.equal(list.status, 200);
  t.same(
    list.body.backends.map((b: Record<string, unknown>) => [b.id, b.weight, b.drain, b.healthy, b.available, b.ejected, b.inFlight, b.requests]),
    [
      ['a', 3, false, true, true, false, 0, answered.A],
      ['b', 1, false, true, true, false, 0, answered.B],
    ],
    `GET /api/backends: weight, drain, healthy, available, ejected, inFlight and requests (a answered ${answered.A}, b ${answered.B})`,
  );
  t.type(list.body.backends[0].ewmaLatencyMs, 'number', 'with a latency average');
  const one = await api('/api/backends/b', { token: operator });
  t.match(one, { status: 200, body: { id: 'b', pool: 'web', url: B.url, healthy: true, available: true, requests: answered.B } }, 'GET /api/backends/b: the same');

  const del = await api('/api/backends/b', { method: 'DELETE', token: operator });
  t.equal(del.status, 204, 'DELETE: 204');
  t.equal(del.body, undefined, 'with no body');
  const afterDelete = tally(await traffic(24));
  t.same(afterDelete.counts, { A: 24 }, 'b removed: the very next requests all go to a');
  t.equal(afterDelete.workers.A, 2, 'on both workers');
  t.match(await api('/api/backends/b', { token: operator }), { status: 404, body: { error: { code: 'VF_ERR_BACKEND_NOT_FOUND' } } }, 'b is gone from the API');

  const addC = await api('/api/backends', { token: operator, body: { id: 'c', pool: 'web', url: C.url, weight: 1 } });
  t.equal(addC.status, 201, 'c added');
  const afterC = tally(await traffic(40));
  t.ok(afterC.counts.A! >= 26 && afterC.counts.A! <= 34 && afterC.counts.C! >= 6 && afterC.counts.B === undefined, `a:c about 3:1, no b (${JSON.stringify(afterC.counts)})`);
});

t.test('refused changes: answers and nothing applied', async (t) => {
  const before = (await api('/api/backends', { token: operator })).body.backends.map((b: { id: string; weight: number; drain: boolean }) => [b.id, b.weight, b.drain]);

  const invalid = await api('/api/backends', { token: operator, body: { id: 'x', pool: 'web', url: 'ftp://127.0.0.1:21' } });
  t.equal(invalid.status, 422, 'an invalid URL: 422');
  t.equal(invalid.body.error.code, 'VF_ERR_CONFIG_INVALID');
  t.match(invalid.body.error.problems, [/url: expected an http:\/\/ or https:\/\/ origin/], 'listing the problem');
  t.equal(invalid.body.error.message, 'the change would make the configuration invalid: 1 problem(s)', 'without naming the server config file');

  const withPath = await api('/api/backends', { token: operator, body: { id: 'x', pool: 'web', url: `${B.url}/some/path` } });
  t.match(withPath, { status: 422, body: { error: { code: 'VF_ERR_CONFIG_INVALID', problems: [/url/] } } }, 'a URL with a path: 422 too');

  const notUrl = await api('/api/backends', { token: operator, body: { id: 'x', pool: 'web', url: 7 } });
  t.match(notUrl, { status: 400, body: { error: { code: 'VF_ERR_VALIDATION', fields: [{ field: 'body.url' }] } } }, 'a URL that is not a string: 400 naming body.url');

  const exists = await api('/api/backends', { token: operator, body: { id: 'a', pool: 'web', url: B.url } });
  t.match(exists, { status: 409, body: { error: { code: 'VF_ERR_BACKEND_EXISTS', message: 'backend "a" already exists' } } }, 'an existing id: 409');

  const noPool = await api('/api/backends', { token: operator, body: { id: 'x', pool: 'nope', url: B.url } });
  t.match(noPool, { status: 404, body: { error: { code: 'VF_ERR_POOL_NOT_FOUND', message: 'no pool named "nope"' } } }, 'an unknown pool: 404');

  const unknown = await api('/api/backends/nope', { method: 'PUT', token: operator, body: { weight: 2 } });
  t.match(unknown, { status: 404, body: { error: { code: 'VF_ERR_BACKEND_NOT_FOUND' } } }, 'PUT of an unknown id: 404');

  const after = (await api('/api/backends', { token: operator })).body.backends.map((b: { id: string; weight: number; drain: boolean }) => [b.id, b.weight, b.drain]);
  t.same(after, before, 'the backends are unchanged');
  const tr = tally(await traffic(8));
  t.same(Object.keys(tr.counts).filter((who) => who !== 'A' && who !== 'C'), [], `traffic still only to a and c (${JSON.stringify(tr.counts)})`);
});

t.test('the audit log names the API user as the actor of every change', async (t) => {
  const audit = (await (await vf.admin('/admin/audit?limit=20')).json()) as { entries: { actor: Record<string, unknown>; action: string; target?: string; outcome: string }[] };
  const fromApi = audit.entries.filter((e) => e.actor.via === 'api').reverse();
  t.same(
    fromApi.map((e) => [e.action, e.target, e.outcome]),
    [
      ['backend.add', 'web/b', 'applied'],
      ['backend.update', 'a', 'applied'],
      ['backend.update', 'a', 'applied'],
      ['backend.remove', 'b', 'applied'],
      ['backend.add', 'web/c', 'applied'],
      ['backend.add', 'web/x', 'rejected'],
      ['backend.add', 'web/x', 'rejected'],
      ['backend.add', 'web/a', 'rejected'],
    ],
    // An unknown pool or id is answered by the worker (what the caller may see), not the primary.
    'every API change the primary applied or rejected, in order',
  );
  for (const e of fromApi) t.same(e.actor, { via: 'api', user: `${operatorId} ${OPERATOR.email}`, address: '127.0.0.1' }, `${e.action} ${e.target}: actor is the operator`);
});

t.test('the changes survive a restart on the same config file and dataDir', async (t) => {
  const before = (await api('/api/backends', { token: operator })).body.backends.map((b: Record<string, unknown>) => ({ id: b.id, pool: b.pool, url: b.url, weight: b.weight, drain: b.drain }));
  t.same(before, [
    { id: 'a', pool: 'web', url: A.url, weight: 3, drain: false },
    { id: 'c', pool: 'web', url: C.url, weight: 1, drain: false },
  ]);
  t.equal(await vf.stop(), 0, 'stopped cleanly');
  vf = await launch(configFile);

  const list = await api('/api/backends', { token: operator });
  t.equal(list.status, 200, "the operator's token from before the restart still works (the user persisted)");
  t.same(
    list.body.backends.map((b: Record<string, unknown>) => ({ id: b.id, pool: b.pool, url: b.url, weight: b.weight, drain: b.drain })),
    before,
    'GET /api/backends after the restart: a with weight 3, c added, b removed',
  );
  t.match(await api('/api/backends/b', { token: operator }), { status: 404 }, 'b stays removed');
  const tr = await traffic(40);
  t.same(Object.keys(tr.counts).sort(), ['A', 'C'], `traffic to a and c only (${JSON.stringify(tr.counts)})`);
  t.ok(tr.counts.A! >= 26 && tr.counts.A! <= 34, `a keeps weight 3: ${tr.counts.A} of 40`);
  t.equal(tr.workers.C, 2, 'on both workers');
});
