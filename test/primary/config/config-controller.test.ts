/**
 * The config controller in-process, with its real collaborators: a config file in a temp dir,
 * the embedded state store and audit log under its dataDir, and the real Supervisor applying
 * each change to workers that speak the IPC protocol (test/helpers/fake-workers.ts). A change is
 * applied on every worker or none; a refusal leaves the running config, its version, its ETag
 * and the stored state as they were; If-Match guards PUT; validate() names every problem by its
 * path; what was applied survives a restart on the same dataDir; backend operations.
 */
import t, { type Test } from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { AuditLog } from '../../../src/primary/audit-log.js';
import { ConfigController } from '../../../src/primary/config/config-controller.js';
import type { DynamicInput } from '../../../src/primary/config/runtime-overlay.js';
import { openStateStore } from '../../../src/primary/state/state-store.js';
import { Supervisor } from '../../../src/primary/supervisor.js';
import type { ConfigSnapshot } from '../../../src/shared/ipc.js';
import { VelofluxError } from '../../../src/shared/errors.js';
import type { StateStore } from '../../../src/shared/state/store.js';
import { FakeWorkers, type FakeWorker } from '../../helpers/fake-workers.js';
import { waitFor } from '../../helpers/processes.js';

const silent = pino({ level: 'silent' });
const actor = { via: 'test' };
const backend = (id: string, port: number) => ({ id, url: `http://127.0.0.1:${port}` });

const BASE: DynamicInput = {
  pools: [{ name: 'web', backends: [backend('a', 10_001), backend('b', 10_002)] }],
  routes: [{ path: '/', pool: 'web' }],
};

/** A worker that cannot build any snapshot with a pool or backend named `name`, as a real one might fail on a bad certificate. */
const refusing = (name: string) => (snapshot: ConfigSnapshot) =>
  snapshot.config.pools.some((p) => p.name === name || p.backends.some((b) => b.id === name)) ? `refusing "${name}"` : undefined;

/** Writes the config file; its dataDir is `dir/data`. */
async function writeConfigFile(dir: string, dynamic: DynamicInput = BASE): Promise<string> {
  const file = join(dir, 'veloflux.yaml');
  await writeFile(file, stringify({ server: { workers: 2, dataDir: join(dir, 'data') }, ...dynamic }));
  return file;
}

/**
 * The real embedded store, whose writes can be made to fail (as Redis away or a full disk would)
 * and are written into the workers' journal as `store put`, so a test sees what came first.
 */
class StoreFaults {
  /** Set: every put rejects with this code. */
  failPuts: 'VF_ERR_STATE_UNAVAILABLE' | 'VF_ERR_PERSIST_FAILED' | undefined;
  journal: string[] = [];

  wrap(store: StateStore): StateStore {
    const put: StateStore['put'] = async (namespace, id, value, options) => {
      if (this.failPuts !== undefined) throw new VelofluxError(this.failPuts, 'injected write failure');
      const record = await store.put(namespace, id, value, options);
      this.journal.push('store put');
      return record;
    };
    return new Proxy(store, {
      get: (target, key) => {
        if (key === 'put') return put;
        const value: unknown = Reflect.get(target, key, target);
        // Methods run on the store itself: its #private fields are not on the proxy.
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }
}

/** A controller on `file` whose changes go through a started Supervisor over fake workers; stopped at the end of the test. */
async function startController(t: Test, file: string, configure: (w: FakeWorker) => void = () => {}) {
  const faults = new StoreFaults();
  const controller = await ConfigController.load(file, async (config) => faults.wrap(await openStateStore(config.server, 'node-test', silent)), (dataDir) => new AuditLog(dataDir, silent), silent);
  const fakes = new FakeWorkers();
  faults.journal = fakes.journal;
  fakes.configure = configure;
  const supervisor = new Supervisor({ version: 1, config: controller.config, stickySecret: 'sticky-secret-for-tests-0123456789', apiSecrets: { jwtSecret: 'jwt-secret-for-tests-0123456789abcdef' } }, silent, { workers: fakes.factory });
  controller.attach(supervisor);
  const applied: number[] = [];
  controller.onApplied = (config) => void applied.push(config.pools.length);
  let ready = false;
  supervisor.start({ onAllReady: () => (ready = true), onFatal: () => {}, onOutlier: () => {} });
  await waitFor(() => ready, 2000, 'the workers to serve');
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await supervisor.shutdown(0);
    await controller.store.close();
  };
  t.teardown(stop);
  /** How many prepares the workers got so far (0: no change reached them). */
  const prepares = () => fakes.all.reduce((n, w) => n + w.types().filter((type) => type === 'prepare').length, 0);
  const backendIds = () => controller.config.pools.flatMap((p) => p.backends.map((b) => b.id));
  return { controller, supervisor, fakes, faults, applied, prepares, backendIds, stop };
}

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'veloflux-controller-'));
  t.teardown(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  return dir;
}

const storedState = (controller: ConfigController) => controller.store.get<{ apiBase: { dynamic: DynamicInput } | null; overlay: unknown }>('config', 'runtime');

t.test('a PUT every worker accepts is served everywhere, answered by GET, persisted and audited', async (t) => {
  const { controller, supervisor, fakes, applied } = await startController(t, await writeConfigFile(await tempDir(t)));
  const before = controller.etag;
  const next: DynamicInput = { pools: [{ name: 'web', backends: [backend('a', 10_001), backend('c', 10_003)] }], routes: [{ path: '/', pool: 'web' }] };
  const result = await controller.replace(next, before, actor);
  t.match(result, { configVersion: 2, needsRestart: [], skipped: [] });
  t.not(result.etag, before, 'a new ETag');
  t.equal(controller.etag, result.etag);
  t.same(controller.dynamic, next, 'GET /admin/config answers the new config');
  t.same(controller.config.pools[0]!.backends.map((b) => b.id), ['a', 'c']);
  t.equal(supervisor.committed.version, 2);
  for (const worker of fakes.all) t.equal(worker.configVersion, 2, `worker ${worker.id} serves it`);
  t.same((await storedState(controller))?.value.apiBase?.dynamic, next, 'the state store holds it');
  t.match(controller.audit.list()[0], { actor, action: 'config.replace', outcome: 'applied', configVersion: 2 });
  t.same(applied, [1], 'the health checker and the rest followed it once');
  await new Promise((r) => setTimeout(r, 50));
  t.same(controller.changeCounts, { success: 1, failure: 0, lastSucceeded: true }, 'counted once for /metrics');
});

t.test('a change one worker refuses is rolled back everywhere: config, version, ETag unchanged, the stored state restored', async (t) => {
  const { controller, supervisor, fakes, applied } = await startController(t, await writeConfigFile(await tempDir(t)), (w) => {
    if (w.id === 2) w.refuse = refusing('canary');
  });
  const etag = controller.etag;
  const dynamic = structuredClone(controller.dynamic);
  const withCanary: DynamicInput = { pools: [...BASE.pools, { name: 'canary', backends: [backend('k', 10_009)] }], routes: BASE.routes };
  await t.rejects(controller.replace(withCanary, etag, actor), { code: 'VF_ERR_APPLY_FAILED', message: /worker 2: refusing "canary"/ });
  t.equal(controller.etag, etag, 'ETag unchanged');
  t.same(controller.dynamic, dynamic, 'GET answers the running config');
  t.same(controller.config.pools.map((p) => p.name), ['web']);
  t.equal(supervisor.committed.version, 1, 'the running version is unchanged');
  t.ok(fakes.all.every((w) => w.configVersion === 1), 'every worker still serves v1');
  t.ok(fakes.byId(1).types().includes('abort'), 'the worker that had prepared it dropped it');
  t.ok(fakes.all.every((w) => !w.types().includes('commit')), 'no worker was told to commit');
  // Saved first (issue 13), so the refused change was in the store until the workers refused it;
  // the state served before it was then written back over it.
  t.match(await storedState(controller), { value: { apiBase: null }, version: 2 }, 'the stored state is the served one again');
  t.match(controller.audit.list()[0], { action: 'config.replace', outcome: 'failed', detail: /refusing "canary"/ });
  t.same(applied, [], 'nothing followed a change that did not happen');
  t.same(controller.changeCounts, { success: 0, failure: 1, lastSucceeded: false });

  // The next change is unaffected (and its version is past the refused one: versions only grow).
  const result = await controller.operate({ kind: 'drain', backendId: 'b', drain: true }, actor);
  t.equal(result.configVersion, 3);
  t.ok(fakes.all.every((w) => w.configVersion === 3));
});

t.test('the metrics count each change once and report the outcome of the last one', async (t) => {
  // Regression: the store reports the controller's own write back; that echo was queued as a
  // change, counted as a second success and, behind a change that failed, flipped the gauge back.
  const { controller } = await startController(t, await writeConfigFile(await tempDir(t)), (w) => {
    if (w.id === 2) w.refuse = refusing('canary');
  });
  const drained = controller.operate({ kind: 'drain', backendId: 'b', drain: true }, actor);
  const refused = controller.operate({ kind: 'add', pool: 'web', backend: backend('canary', 10_009) }, actor);
  await drained;
  await t.rejects(refused, { code: 'VF_ERR_APPLY_FAILED' });
  await new Promise((r) => setTimeout(r, 50));
  t.same(controller.changeCounts, { success: 1, failure: 1, lastSucceeded: false });
});

t.test('PUT needs If-Match with the current ETag (or *); a missing or stale one reaches no worker', async (t) => {
  const { controller, prepares } = await startController(t, await writeConfigFile(await tempDir(t)));
  const original = controller.etag;
  const next: DynamicInput = { pools: [{ name: 'web', backends: [backend('a', 10_001)] }], routes: BASE.routes };
  await t.rejects(controller.replace(next, undefined, actor), { code: 'VF_ERR_PRECONDITION_REQUIRED' });
  await t.rejects(controller.replace(next, '"stale"', actor), { code: 'VF_ERR_PRECONDITION_FAILED', message: `the config changed: current ETag is ${original}` });
  t.equal(prepares(), 0, 'no worker saw either');
  t.match(controller.audit.list().slice(0, 2), [{ action: 'config.replace', outcome: 'rejected' }, { action: 'config.replace', outcome: 'rejected' }]);
  t.equal(controller.etag, original);

  const first = await controller.replace(next, original, actor);
  await t.rejects(controller.replace(BASE, original, actor), { code: 'VF_ERR_PRECONDITION_FAILED' }, 'the ETag the first writer used is stale now');
  const forced = await controller.replace(BASE, '*', actor);
  t.equal(forced.configVersion, first.configVersion + 1, '* applies whatever the current ETag');
  t.equal(forced.etag, original, 'equal configs have equal ETags');
});

t.test('validate() lists every problem with its path and applies nothing', async (t) => {
  const { controller, prepares } = await startController(t, await writeConfigFile(await tempDir(t)));
  const etag = controller.etag;
  const bad = controller.validate({ pools: [{ name: 'web', algorithm: 'fastest', backends: [] }], routes: [{ path: 'nope', pool: 'api' }] });
  t.equal(bad.valid, false);
  for (const path of ['pools[0].algorithm', 'pools[0].backends', 'routes[0].path', 'routes[0].pool']) {
    t.ok(bad.problems.some((p) => p.startsWith(`${path}: `)), `a problem at ${path}`);
  }
  t.same(controller.validate({ pools: [{ name: 'web', backends: [backend('c', 10_003)] }], routes: BASE.routes }), { valid: true, problems: [] });
  t.equal(prepares(), 0, 'nothing sent to the workers');
  t.equal(controller.etag, etag);
  t.equal(controller.audit.list().length, 0, 'a dry run is not an audited change');
});

t.test('an invalid change is refused with every problem before any worker sees it', async (t) => {
  const { controller, prepares } = await startController(t, await writeConfigFile(await tempDir(t)));
  const invalid = { pools: [{ name: 'web', backends: [{ id: 'a', url: 'not a url' }] }], routes: [{ path: '/', pool: 'nowhere' }] };
  const err = await controller.replace(invalid, controller.etag, actor).then(
    () => undefined,
    (e: unknown) => e as { code?: string; problems?: { path: (string | number)[] }[] },
  );
  t.equal(err?.code, 'VF_ERR_CONFIG_INVALID');
  t.equal(err?.problems?.length, 2, 'both problems, not only the first');
  t.equal(prepares(), 0);
  t.match(controller.audit.list()[0], { action: 'config.replace', outcome: 'rejected' });
});

t.test('what was applied survives a new controller on the same dataDir; what was refused does not', async (t) => {
  const dir = await tempDir(t);
  const file = await writeConfigFile(dir);
  const first = await startController(t, file, (w) => {
    if (w.id === 2) w.refuse = refusing('bad');
  });
  await first.controller.operate({ kind: 'add', pool: 'web', backend: backend('c', 10_003) }, actor);
  await first.controller.operate({ kind: 'weight', backendId: 'a', weight: 5 }, actor);
  await t.rejects(first.controller.operate({ kind: 'add', pool: 'web', backend: backend('bad', 10_004) }, actor), { code: 'VF_ERR_APPLY_FAILED' });
  const etag = first.controller.etag;
  const dynamic = first.controller.dynamic;
  await first.stop();

  const second = await startController(t, file);
  t.equal(second.controller.etag, etag, 'the same ETag after the restart');
  t.same(second.controller.dynamic, dynamic);
  t.same(second.backendIds(), ['a', 'b', 'c'], 'the added backend is back; the refused one never was');
  t.equal(second.controller.config.pools[0]!.backends.find((b) => b.id === 'a')?.weight, 5);
  t.ok(second.fakes.all.every((w) => w.received[0]?.type === 'snapshot' && w.received[0].snapshot.config.pools[0]!.backends.length === 3), 'the workers start with it');
});

t.test('backend operations: add, drain, weight, remove, each applied on every worker; a bad target reaches none', async (t) => {
  const { controller, fakes, prepares, backendIds } = await startController(t, await writeConfigFile(await tempDir(t)));
  const find = (id: string) => controller.config.pools.flatMap((p) => p.backends).find((b) => b.id === id);

  await controller.operate({ kind: 'add', pool: 'web', backend: backend('c', 10_003) }, actor);
  t.same(backendIds(), ['a', 'b', 'c']);
  await controller.operate({ kind: 'drain', backendId: 'b', drain: true }, actor);
  t.equal(find('b')?.drain, true);
  t.equal(controller.dynamic.pools[0]!.backends.find((b) => b.id === 'b')?.drain, true, 'GET shows it drained');
  await controller.operate({ kind: 'weight', backendId: 'a', weight: 7 }, actor);
  t.equal(find('a')?.weight, 7);
  await controller.operate({ kind: 'remove', backendId: 'c' }, actor);
  await controller.operate({ kind: 'remove', backendId: 'a' }, actor);
  t.same(backendIds(), ['b']);
  t.ok(fakes.all.every((w) => w.configVersion === 6), 'five changes, each on every worker');
  t.same(
    controller.audit.list().map((e) => [e.action, e.target, e.outcome]),
    [
      ['backend.remove', 'a', 'applied'],
      ['backend.remove', 'c', 'applied'],
      ['backend.weight', 'a', 'applied'],
      ['backend.drain', 'b', 'applied'],
      ['backend.add', 'web/c', 'applied'],
    ],
  );

  const sent = prepares();
  await t.rejects(controller.operate({ kind: 'add', pool: 'api', backend: backend('d', 10_005) }, actor), { code: 'VF_ERR_POOL_NOT_FOUND' });
  await t.rejects(controller.operate({ kind: 'add', pool: 'web', backend: backend('b', 10_005) }, actor), { code: 'VF_ERR_BACKEND_EXISTS' });
  await t.rejects(controller.operate({ kind: 'drain', backendId: 'zz', drain: true }, actor), { code: 'VF_ERR_BACKEND_NOT_FOUND' });
  await t.rejects(controller.operate({ kind: 'remove', backendId: 'a' }, actor), { code: 'VF_ERR_BACKEND_NOT_FOUND' }, 'a removed backend is gone');
  t.equal(prepares(), sent, 'no worker saw any of them');
  t.match(controller.audit.list()[0], { action: 'backend.remove', target: 'a', outcome: 'rejected' });
  t.same(backendIds(), ['b']);
});

t.test('a change the store cannot save reaches no worker: no prepare, no commit, no new configVersion', async (t) => {
  // Issue 13: it used to be applied first and rolled back after the failed save, so each failed
  // attempt swapped every worker twice and used up two configVersions.
  const { controller, supervisor, fakes, faults, prepares, applied } = await startController(t, await writeConfigFile(await tempDir(t)));
  const etag = controller.etag;
  for (const code of ['VF_ERR_STATE_UNAVAILABLE', 'VF_ERR_PERSIST_FAILED'] as const) {
    faults.failPuts = code;
    await t.rejects(controller.operate({ kind: 'drain', backendId: 'b', drain: true }, actor), { code, message: /injected write failure; the change was not applied on any worker$/ });
    await t.rejects(controller.replace({ pools: [{ name: 'web', backends: [backend('a', 10_001)] }], routes: BASE.routes }, etag, actor), { code });
  }
  t.equal(prepares(), 0, 'no worker was asked to prepare');
  t.ok(fakes.all.every((w) => !w.types().includes('commit') && w.configVersion === 1), 'no worker committed anything; all serve v1');
  t.equal(supervisor.committed.version, 1, 'configVersion unchanged');
  t.equal(controller.etag, etag);
  t.same(applied, []);
  t.equal(await storedState(controller), undefined, 'nothing stored');
  t.match(controller.audit.list()[0], { action: 'config.replace', outcome: 'failed', detail: /injected write failure/ });

  faults.failPuts = undefined;
  const result = await controller.operate({ kind: 'drain', backendId: 'b', drain: true }, actor);
  t.equal(result.configVersion, 2, 'the failed attempts used up no version');
  t.same(fakes.journal.filter((l) => l === 'store put' || l.endsWith('<- prepare')), ['store put', '1 <- prepare', '2 <- prepare'], 'saved before any worker saw it');
});

t.test('a saved change the workers refuse, with the store failing the restore: mended by the next change', async (t) => {
  const { controller, fakes, faults } = await startController(t, await writeConfigFile(await tempDir(t)), (w) => {
    if (w.id === 2) w.refuse = refusing('canary');
  });
  // The worker's refusal makes the store fail right after the change was saved: the restore fails.
  const prepared = fakes.byId(2);
  const refuse = prepared.refuse;
  prepared.refuse = (snapshot) => {
    faults.failPuts = 'VF_ERR_STATE_UNAVAILABLE';
    return refuse(snapshot);
  };
  await t.rejects(controller.operate({ kind: 'add', pool: 'web', backend: backend('canary', 10_009) }, actor), { code: 'VF_ERR_APPLY_FAILED' });
  t.match(await storedState(controller), { version: 1, value: { overlay: { added: [{ backend: { id: 'canary' } }] } } }, 'the refused change is still stored (the restore failed)');
  t.same(controller.config.pools[0]!.backends.map((b) => b.id), ['a', 'b'], 'and not served');

  faults.failPuts = undefined;
  prepared.refuse = refuse;
  await controller.operate({ kind: 'drain', backendId: 'b', drain: true }, actor);
  const stored = await storedState(controller);
  t.match(stored, { version: 2, value: { overlay: { added: [], backends: { b: { drain: true } } } } }, 'the next change wrote the served state whole over it');
  t.ok(fakes.all.every((w) => w.configVersion === 3));
});
