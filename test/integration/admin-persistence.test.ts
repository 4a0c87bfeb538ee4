/**
 * Runtime changes are never lost: drain, weight, add and remove survive POST /admin/reload,
 * SIGHUP and a full restart (same file, same dataDir), and the precedence between the file, a
 * whole config PUT and runtime operations holds (config-source.ts, README). Proven by which
 * upstream answers requests through the proxy.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { CLI, launchVeloflux, TEST_ADMIN_TOKEN, writeConfig, type RunningVeloflux } from '../helpers/veloflux.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/processes.js';

type Instance = RunningVeloflux & { readonly pid: number };

async function launch(configFile: string): Promise<Instance> {
  const vf = await launchVeloflux(configFile, { env: { VELOFLUX_JWT_SECRET: '', VELOFLUX_ADMIN_EMAIL: '', VELOFLUX_ADMIN_PASSWORD: '' } });
  return Object.assign(vf, { pid: vf.process.pid! });
}

const upstreams = await Promise.all([startUpstream(), startUpstream(), startUpstream(), startUpstream()]);
const [A, B, C, D] = upstreams as [Upstream, Upstream, Upstream, Upstream];
const nameOf = new Map(upstreams.map((u, i) => [u.port, 'ABCD'[i]!]));
t.teardown(() => Promise.all(upstreams.map((u) => u.close())));

const backend = (u: Upstream) => ({ id: nameOf.get(u.port)!.toLowerCase(), url: u.url });
const webOn = (...members: Upstream[]) => ({ pools: [{ name: 'web', backends: members.map(backend) }], routes: [{ path: '/', pool: 'web' }] });

function getOnce(port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? (nameOf.get(Number(res.headers['x-upstream-port'])) ?? '?') : `status ${res.statusCode}`));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Which upstreams answered `n` requests on new connections (so both workers answer), with counts. */
async function traffic(vf: Instance, n = 24): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const who = await getOnce(vf.port);
    counts[who] = (counts[who] ?? 0) + 1;
  }
  return counts;
}

async function configOf(vf: Instance): Promise<{ etag: string; body: unknown }> {
  const res = await vf.admin('/admin/config');
  return { etag: res.headers.get('etag')!, body: await res.json() };
}

async function ok(res: Promise<Response>, what: string): Promise<{ skipped: string[]; etag: string }> {
  const r = await res;
  const body = (await r.json()) as { skipped: string[]; etag: string };
  if (r.status >= 300) throw new Error(`${what}: ${r.status} ${JSON.stringify(body)}`);
  return body;
}

function dataDirOf(configFile: string): string {
  return (parse(readFileSync(configFile, 'utf8')) as { server: { dataDir: string } }).server.dataDir;
}

function rewriteDynamic(configFile: string, dynamic: object): void {
  const file = parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  writeFileSync(configFile, stringify({ server: file.server, ...dynamic }));
}

t.test('drain, weight, add and remove survive POST /admin/reload, SIGHUP and a restart', async (t) => {
  const configFile = writeConfig(webOn(A, B, C), { workers: 2 });
  let vf = await launch(configFile);
  t.teardown(() => vf.stop());

  await ok(vf.admin('/admin/backends/a/drain', { method: 'POST' }), 'drain');
  await ok(vf.admin('/admin/backends/b/weight', { method: 'PUT', body: JSON.stringify({ weight: 3 }) }), 'weight');
  await ok(vf.admin('/admin/pools/web/backends', { method: 'POST', body: JSON.stringify(backend(D)) }), 'add');
  await ok(vf.admin('/admin/backends/c', { method: 'DELETE' }), 'remove');
  const expected = {
    pools: [{ name: 'web', backends: [{ ...backend(A), drain: true }, { ...backend(B), weight: 3 }, backend(D)] }],
    routes: [{ path: '/', pool: 'web' }],
  };

  const check = async (when: string) => {
    const { etag, body } = await configOf(vf);
    t.same(body, expected, `${when}: GET /admin/config has every runtime change`);
    const counts = await traffic(vf, 40);
    // a drained, c removed; b (weight 3) and d (weight 1) at 3:1 on each worker.
    t.same(Object.keys(counts).sort(), ['B', 'D'], `${when}: only b and d answer (${JSON.stringify(counts)})`);
    t.ok(counts.B! >= 28 && counts.B! <= 32, `${when}: b takes about 3 in 4`);
    return etag;
  };
  const etag = await check('after the changes');

  const reloaded = await ok(vf.admin('/admin/reload', { method: 'POST' }), 'reload');
  t.same(reloaded.skipped, [], 'nothing skipped on reload');
  t.equal(await check('after POST /admin/reload'), etag, 'same ETag');

  process.kill(vf.pid, 'SIGHUP');
  await waitFor(() => vf.logs().some((l) => l.msg === 'reloaded on SIGHUP'), 5000, 'the SIGHUP reload');
  t.equal(await check('after SIGHUP'), etag, 'same ETag');
  const audit = (await (await vf.admin('/admin/audit?limit=1')).json()) as { entries: { actor: { via: string }; action: string; outcome: string }[] };
  t.match(audit.entries[0], { actor: { via: 'SIGHUP' }, action: 'config.reload', outcome: 'applied' }, 'the SIGHUP reload is audited');

  // A file broken meanwhile: SIGHUP is rejected, nothing changes.
  const good = readFileSync(configFile, 'utf8');
  writeFileSync(configFile, `${good}\nextra: [\n`);
  process.kill(vf.pid, 'SIGHUP');
  await waitFor(() => vf.logs().some((l) => typeof l.msg === 'string' && l.msg.startsWith('reload on SIGHUP rejected')), 5000, 'the SIGHUP rejection');
  t.equal(await check('after a rejected SIGHUP'), etag, 'same ETag');
  writeFileSync(configFile, good);

  const state = JSON.parse(readFileSync(join(dataDirOf(configFile), 'state', 'config.json'), 'utf8')) as { format: number; records: Record<string, { value: unknown }> };
  t.equal(state.format, 1);
  t.same(
    state.records.runtime!.value,
    {
      apiBase: null,
      overlay: { backends: { a: { drain: true }, b: { weight: 3 } }, added: [{ pool: 'web', backend: backend(D) }], removed: ['c'] },
    },
    'state/config.json is valid JSON with every change',
  );
  t.same(readdirSync(dataDirOf(configFile)).sort(), ['audit.log', 'jwt-secret', 'state', 'sticky-secret'], 'no temp files left behind');
  t.same(readdirSync(join(dataDirOf(configFile), 'state')).sort(), ['config.json', 'user-emails.json', 'users.json'], 'no temp files left behind in state/ (the first API admin is there too)');

  t.equal(await vf.stop(), 0, 'stopped cleanly');
  vf = await launch(configFile);
  t.equal(await check('after a restart'), etag, 'same ETag');
});

t.test('precedence: a PUT beats the unchanged file; an edited file is the base again; runtime ops stay on top', async (t) => {
  const configFile = writeConfig(webOn(A, B), { workers: 2 });
  let vf = await launch(configFile);
  t.teardown(() => vf.stop());
  const dataDir = dataDirOf(configFile);
  const state = () =>
    (JSON.parse(readFileSync(join(dataDir, 'state', 'config.json'), 'utf8')) as { records: { runtime: { value: { apiBase: { dynamic: unknown } | null; overlay: unknown } } } }).records.runtime.value;

  await ok(vf.admin('/admin/backends/a/drain', { method: 'POST' }), 'drain a');
  t.same(Object.keys(await traffic(vf)), ['B'], 'a runtime drain on the file config');

  // A whole config is the complete desired state: it replaces the file's pools and the overlay.
  const put = webOn(A, C);
  await ok(vf.admin('/admin/config', { method: 'PUT', body: JSON.stringify(put), headers: { 'if-match': (await configOf(vf)).etag } }), 'PUT');
  t.same(Object.keys(await traffic(vf)).sort(), ['A', 'C'], 'the PUT config serves, a no longer drained');

  await ok(vf.admin('/admin/backends/c/drain', { method: 'POST' }), 'drain c');
  const withDrain = { pools: [{ name: 'web', backends: [backend(A), { ...backend(C), drain: true }] }], routes: put.routes };
  t.same(await traffic(vf), { A: 24 }, 'runtime op on top of the PUT config');

  await ok(vf.admin('/admin/reload', { method: 'POST' }), 'reload');
  t.same((await configOf(vf)).body, withDrain, 'reload of the unchanged file: the PUT config (and the drain) stay');
  t.same(await traffic(vf), { A: 24 });

  t.equal(await vf.stop(), 0);
  vf = await launch(configFile);
  t.same((await configOf(vf)).body, withDrain, 'restart with the unchanged file: the PUT config (and the drain) stay');
  t.same(await traffic(vf), { A: 24 });
  t.same(state().apiBase?.dynamic, put, 'the PUT config is persisted');

  // Editing the file makes it the base again; the drain of c is re-applied on top.
  rewriteDynamic(configFile, webOn(B, C, D));
  const reloaded = await ok(vf.admin('/admin/reload', { method: 'POST' }), 'reload of the edited file');
  t.same(reloaded.skipped, []);
  const fromFile = { pools: [{ name: 'web', backends: [backend(B), { ...backend(C), drain: true }, backend(D)] }], routes: put.routes };
  t.same((await configOf(vf)).body, fromFile, 'the edited file is the base, with the runtime drain on top');
  t.same(Object.keys(await traffic(vf)).sort(), ['B', 'D'], 'b and d serve, c stays drained, a (only in the PUT) is gone');
  t.equal(state().apiBase, null, 'the superseded PUT config is dropped from the state file');

  t.equal(await vf.stop(), 0);
  vf = await launch(configFile);
  t.same((await configOf(vf)).body, fromFile, 'after a restart too');
  t.same(Object.keys(await traffic(vf)).sort(), ['B', 'D']);

  // A runtime change that no longer fits an edited file is reported, not fatal.
  await ok(vf.admin('/admin/backends/d/weight', { method: 'PUT', body: JSON.stringify({ weight: 2 }) }), 'weight d');
  rewriteDynamic(configFile, webOn(B, C));
  const skipped = await ok(vf.admin('/admin/reload', { method: 'POST' }), 'reload without d');
  t.same(skipped.skipped, ['settings for backend "d": no such backend any more']);
  t.same(await traffic(vf), { B: 24 }, 'b serves, c still drained');
});

t.test('a change that cannot be saved is not applied either', async (t) => {
  const configFile = writeConfig(webOn(A, B), { workers: 2 });
  const vf = await launch(configFile);
  t.teardown(() => vf.stop());
  const before = await configOf(vf);
  // The state file cannot be replaced: a non-empty directory stands at its path.
  const stateFile = join(dataDirOf(configFile), 'state', 'config.json');
  mkdirSync(stateFile, { recursive: true });
  writeFileSync(join(stateFile, 'in-the-way'), 'x');

  const res = await vf.admin('/admin/backends/a/drain', { method: 'POST' });
  t.equal(res.status, 500);
  const body = (await res.json()) as { error: { code: string; message: string } };
  t.equal(body.error.code, 'VF_ERR_PERSIST_FAILED');
  t.match(body.error.message, /^could not save .*state\/config\.json: .*; the change was not applied on any worker$/);
  t.same(await configOf(vf), before, 'config and ETag unchanged');
  t.same(Object.keys(await traffic(vf)).sort(), ['A', 'B'], 'a is not drained on any worker');
  const audit = (await (await vf.admin('/admin/audit?limit=1')).json()) as { entries: unknown[] };
  t.match(audit.entries[0], { action: 'backend.drain', target: 'a', outcome: 'failed', detail: /could not save/ }, 'audited as failed');

  rmSync(stateFile, { recursive: true });
  t.equal((await vf.admin('/admin/backends/a/drain', { method: 'POST' })).status, 200, 'once the directory can be written, it applies');
  t.same(Object.keys(await traffic(vf)), ['B']);
});

t.test('an unreadable state file refuses to start with a clear message', async (t) => {
  const configFile = writeConfig(webOn(A), { workers: 1 });
  const dataDir = dataDirOf(configFile);
  mkdirSync(join(dataDir, 'state'), { recursive: true });
  const run = () => spawnSync(process.execPath, [CLI, '--config', configFile], { encoding: 'utf8', env: { ...process.env, VELOFLUX_ADMIN_TOKEN: TEST_ADMIN_TOKEN }, timeout: 15_000 });

  writeFileSync(join(dataDir, 'state', 'config.json'), '{"format": 1, "records": {');
  let r = run();
  t.equal(r.status, 1, 'corrupt JSON: exit 1');
  t.match(r.stderr, /unusable state file\n.*state\/config\.json: not valid JSON .*fix it, or move it away to start without it/);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');

  writeFileSync(join(dataDir, 'state', 'config.json'), '{"format": 99}');
  r = run();
  t.equal(r.status, 1, 'unknown format: exit 1');
  t.match(r.stderr, /unknown format 99/);

  writeFileSync(join(dataDir, 'state', 'config.json'), '{"format": 1, "records": {"runtime": {"version": 1, "value": {"overlay": 3}}}}');
  r = run();
  t.equal(r.status, 1, 'a record that is not a runtime state: exit 1');
  t.match(r.stderr, /the runtime state record is malformed/);
});
