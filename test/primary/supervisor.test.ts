/**
 * The supervisor's decisions, in-process: its workers are peers that speak the worker side of
 * the IPC protocol (test/helpers/fake-workers.ts), so each rule is seen in the messages the
 * workers get. Two-phase changes (commit only when every worker prepared; any refusal, silence
 * or exit aborts on all), respawns with their backoff and streak rules, rolling restarts (drain
 * the old worker only once its replacement serves) and shutdown.
 */
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { Supervisor, type WorkerPorts } from '../../src/primary/supervisor.js';
import { validateConfig } from '../../src/shared/config/load.js';
import type { ConfigSnapshot, PrimaryMessage } from '../../src/shared/ipc.js';
import { FAKE_PORTS, FakeWorkers, type FakeWorker } from '../helpers/fake-workers.js';
import { waitFor } from '../helpers/processes.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function snapshotOf(workers: number, version: number, pools: string[] = ['web']): ConfigSnapshot {
  const config = validateConfig(
    {
      server: { workers },
      pools: pools.map((name, i) => ({ name, backends: [{ id: `${name}-1`, url: `http://127.0.0.1:${10_001 + i}` }] })),
      routes: [{ path: '/', pool: pools[0] }],
    },
    'test',
    {},
  );
  return { version, config, stickySecret: 'sticky-secret-for-tests-0123456789', apiSecrets: { jwtSecret: 'jwt-secret-for-tests-0123456789abcdef' } };
}

interface Options {
  workers?: number;
  clock?: () => number;
  applyTimeoutMs?: number;
}

/** A started supervisor over fake workers, with what it logged and told its owner; shut down at the end of the test. */
function setup(t: Test, options: Options = {}) {
  const count = options.workers ?? 2;
  const fakes = new FakeWorkers();
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const told = { ready: [] as WorkerPorts[], fatal: [] as string[], hellos: [] as number[] };
  const supervisor = new Supervisor(snapshotOf(count, 1), log, {
    workers: fakes.factory,
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
    ...(options.applyTimeoutMs !== undefined ? { applyTimeoutMs: options.applyTimeoutMs } : {}),
  });
  const start = () =>
    supervisor.start({
      onAllReady: (ports) => told.ready.push(ports),
      onFatal: (message) => told.fatal.push(message),
      onOutlier: () => {},
      onWorkerHello: (id) => told.hellos.push(id),
    });
  t.teardown(() => supervisor.shutdown(0));
  const died = () => lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('worker died'));
  const serving = async () => {
    start();
    await waitFor(() => told.ready.length === 1, 2000, 'every worker to serve');
  };
  return { supervisor, fakes, lines, told, start, serving, died };
}

const ofType = <K extends PrimaryMessage['type']>(worker: FakeWorker, type: K) => worker.received.filter((m): m is Extract<PrimaryMessage, { type: K }> => m.type === type);
const twoPhase = (worker: FakeWorker) => worker.types().filter((type) => type === 'prepare' || type === 'commit' || type === 'abort');

t.test('start: every worker gets the committed snapshot after its hello; ready is announced once, when all serve', async (t) => {
  const { supervisor, fakes, told, start } = setup(t, { workers: 3 });
  fakes.configure = (w) => (w.holdReady = w.id === 3);
  start();
  await waitFor(() => fakes.all.length === 3 && fakes.all.every((w) => w.received.length >= 2), 2000, 'three workers greeted');
  for (const worker of fakes.all) {
    t.match(worker.received[0], { type: 'snapshot', snapshot: { version: 1 } }, `worker ${worker.id} gets snapshot v1 first`);
    t.match(worker.received[1], { type: 'health', healthy: {} }, 'then the current availability');
  }
  t.same(told.hellos, [1, 2, 3], 'the owner hears every hello (to send state replicas)');
  await sleep(20);
  t.same(told.ready, [], 'two of three serving is not ready');
  fakes.byId(3).release();
  await waitFor(() => told.ready.length === 1, 2000, 'ready');
  t.same(told.ready, [{ ...FAKE_PORTS, httpsPort: undefined }], 'announced once, with the bound ports');
  t.same(supervisor.servingWorkerIds(), [1, 2, 3]);
  t.ok(supervisor.workers().every((w) => w.ready && w.pid === 40_000 + w.id));
});

t.test('a new worker is also told the availability and log level in force', async (t) => {
  const { supervisor, fakes, serving } = setup(t, { workers: 1 });
  await serving();
  supervisor.broadcastHealth({ 'web-1': false });
  supervisor.broadcastLogLevel('debug');
  fakes.byId(1).crash(null, 'SIGKILL');
  await waitFor(() => fakes.all.length === 2 && fakes.byId(2).received.length >= 3, 3000, 'the respawned worker greeted');
  t.same(fakes.byId(2).types().slice(0, 3), ['snapshot', 'health', 'log-level']);
  t.match(fakes.byId(2).received[1], { healthy: { 'web-1': false } });
  t.match(fakes.byId(2).received[2], { level: 'debug' });
});

t.test('a change is committed only when every worker has prepared it', async (t) => {
  const { supervisor, fakes, serving } = setup(t, { workers: 3 });
  await serving();
  await supervisor.apply(snapshotOf(3, supervisor.nextVersion(), ['web', 'canary']));
  t.equal(supervisor.committed.version, 2);
  for (const worker of fakes.all) {
    t.same(twoPhase(worker), ['prepare', 'commit'], `worker ${worker.id}: prepare, then commit`);
    t.equal(worker.configVersion, 2, `worker ${worker.id} serves v2`);
  }
  const { journal } = fakes;
  const lastPrepared = Math.max(...fakes.all.map((w) => journal.indexOf(`${w.id} -> prepared`)));
  const firstCommit = Math.min(...fakes.all.map((w) => journal.indexOf(`${w.id} <- commit`)));
  t.ok(lastPrepared < firstCommit, 'no commit is sent before the last worker prepared');
  t.match(ofType(fakes.byId(1), 'commit'), [{ configVersion: 2 }]);

  // A worker started from now on gets the committed change.
  fakes.byId(1).crash(null, 'SIGKILL');
  await waitFor(() => fakes.all.length === 4 && fakes.byId(4).received.length > 0, 3000, 'a respawn');
  t.match(fakes.byId(4).received[0], { type: 'snapshot', snapshot: { version: 2 } });
});

t.test('one refusal aborts the change on every worker and reports the reason; nothing is committed', async (t) => {
  const { supervisor, fakes, serving } = setup(t, { workers: 3 });
  fakes.configure = (w) => (w.refuse = (s) => (w.id === 2 && s.config.pools.some((p) => p.name === 'canary') ? 'refusing pool "canary"' : undefined));
  await serving();
  const refused = supervisor.apply(snapshotOf(3, supervisor.nextVersion(), ['web', 'canary']));
  await t.rejects(refused, { code: 'VF_ERR_APPLY_FAILED', message: /worker 2: refusing pool "canary"/ });
  t.equal(supervisor.committed.version, 1, 'the committed snapshot is still v1');
  for (const w of [1, 3]) {
    t.same(twoPhase(fakes.byId(w)), ['prepare', 'abort'], `worker ${w} prepared, then was told to drop it`);
    t.match(ofType(fakes.byId(w), 'abort'), [{ configVersion: 2 }]);
  }
  t.same(twoPhase(fakes.byId(2)), ['prepare'], 'the refusing worker has nothing to abort');
  t.ok(fakes.all.every((w) => w.configVersion === 1), 'every worker still serves v1');

  // Versions only grow: the next change is v3, and it applies.
  await supervisor.apply(snapshotOf(3, supervisor.nextVersion(), ['web', 'api']));
  t.equal(supervisor.committed.version, 3);
  t.ok(fakes.all.every((w) => w.configVersion === 3));
});

t.test('a worker that does not answer in time fails the change like a refusal', async (t) => {
  const { supervisor, fakes, serving } = setup(t, { workers: 2, applyTimeoutMs: 100 });
  await serving();
  fakes.byId(1).answers = false;
  await t.rejects(supervisor.apply(snapshotOf(2, supervisor.nextVersion())), { code: 'VF_ERR_APPLY_FAILED', message: /worker 1: no answer within 100 ms/ });
  t.equal(supervisor.committed.version, 1);
  t.same(twoPhase(fakes.byId(2)), ['prepare', 'abort']);
  t.same(twoPhase(fakes.byId(1)), ['prepare', 'abort'], 'the silent one is told to drop what it may still build');
});

t.test('a worker that exits during the change fails it, and is respawned on the old snapshot', async (t) => {
  const { supervisor, fakes, serving } = setup(t, { workers: 2 });
  await serving();
  fakes.byId(2).answers = false;
  const change = supervisor.apply(snapshotOf(2, supervisor.nextVersion()));
  await waitFor(() => fakes.byId(2).types().includes('prepare'), 1000, 'the prepare');
  fakes.byId(2).crash(null, 'SIGSEGV');
  await t.rejects(change, { code: 'VF_ERR_APPLY_FAILED', message: /worker 2 exited during the change/ });
  t.same(twoPhase(fakes.byId(1)), ['prepare', 'abort']);
  await waitFor(() => fakes.all.length === 3 && fakes.byId(3).received.length > 0, 3000, 'the respawn');
  t.match(fakes.byId(3).received[0], { type: 'snapshot', snapshot: { version: 1 } });
});

t.test('a worker that cannot swap in what it prepared is restarted on the committed change', async (t) => {
  const { supervisor, fakes, serving, died } = setup(t, { workers: 2 });
  await serving();
  fakes.byId(2).refuseCommit = 'swap failed';
  await supervisor.apply(snapshotOf(2, supervisor.nextVersion()));
  t.equal(supervisor.committed.version, 2, 'the others committed: the change stands');
  t.same(fakes.byId(2).killedWith, ['SIGTERM']);
  await waitFor(() => fakes.all.length === 3 && fakes.byId(3).received.length > 0, 3000, 'its replacement');
  t.match(fakes.byId(3).received[0], { type: 'snapshot', snapshot: { version: 2 } });
  t.match(died(), [{ worker: 2, signal: 'SIGTERM' }]);
  t.equal(supervisor.restarts, 1);
});

t.test('a crashed worker is respawned after a backoff that doubles while crashes follow each other', async (t) => {
  const { supervisor, fakes, serving, died } = setup(t, { workers: 1 });
  await serving();
  let crashedAt = Date.now();
  fakes.byId(1).crash(null, 'SIGKILL');
  await waitFor(() => fakes.all.length === 2, 3000, 'the first respawn');
  t.ok(Date.now() - crashedAt >= 240, `respawned after the backoff (${Date.now() - crashedAt} ms)`);
  t.match(died()[0], { msg: 'worker died (SIGKILL); respawning', worker: 1, signal: 'SIGKILL', respawnInMs: 250 });
  t.equal(supervisor.restarts, 1);
  await waitFor(() => fakes.byId(2).configVersion === 1, 1000, 'the respawn to serve');
  crashedAt = Date.now();
  fakes.byId(2).crash(3, null);
  await waitFor(() => fakes.all.length === 3, 3000, 'the second respawn');
  t.ok(Date.now() - crashedAt >= 490, `respawned after the doubled backoff (${Date.now() - crashedAt} ms)`);
  t.match(died()[1], { msg: 'worker died (exit code 3); respawning', code: 3, respawnInMs: 500 });
  t.equal(supervisor.restarts, 2);
});

t.test('the backoff is capped at 30 s; a worker that lived a minute starts a new streak; shutdown cancels pending respawns', async (t) => {
  let now = 1_000_000;
  const { fakes, serving, died, supervisor } = setup(t, { workers: 9, clock: () => now });
  await serving();
  for (let id = 1; id <= 8; id++) fakes.byId(id).crash(null, 'SIGKILL');
  await waitFor(() => died().length === 8, 1000, 'eight deaths');
  t.same(died().map((l) => l.respawnInMs), [250, 500, 1000, 2000, 4000, 8000, 16_000, 30_000], 'one streak: each crash doubles the wait, up to 30 s');
  now += 60_000;
  fakes.byId(9).crash(null, 'SIGKILL');
  await waitFor(() => died().length === 9, 1000, 'the ninth death');
  t.match(died()[8], { worker: 9, livedMs: 60_000, respawnInMs: 250 }, 'a worker that lived a minute was not part of the streak');
  await supervisor.shutdown(0);
  await sleep(400);
  t.equal(fakes.all.length, 9, 'no respawn after shutdown');
  t.equal(supervisor.restarts, 0);
});

t.test('a worker that reports a fatal start-up error is not respawned; the owner is told', async (t) => {
  const { supervisor, fakes, serving, told, died } = setup(t, { workers: 2 });
  await serving();
  fakes.byId(1).say({ v: 1, type: 'fatal', code: 'EADDRINUSE', message: 'port 80 is taken' });
  fakes.byId(1).crash(1, null);
  await sleep(400);
  t.same(told.fatal, ['port 80 is taken']);
  t.equal(died().length, 0, 'its exit is not a crash to respawn');
  t.equal(fakes.all.length, 2);
  t.equal(supervisor.restarts, 0);
});

t.test('a rolling restart replaces one worker at a time; the old one drains only after its replacement serves', async (t) => {
  const { supervisor, fakes, serving, died } = setup(t, { workers: 2 });
  await serving();
  fakes.configure = (w) => (w.holdReady = true);
  const restart = supervisor.rollingRestart(5000);
  await waitFor(() => fakes.all.length === 3 && fakes.byId(3).types().includes('snapshot'), 1000, 'the first replacement');
  await t.rejects(supervisor.rollingRestart(5000), { code: 'VF_ERR_BUSY' }, 'one rolling restart at a time');
  await sleep(20);
  t.notOk(fakes.byId(1).types().includes('shutdown'), 'worker 1 keeps serving while its replacement starts');
  fakes.byId(3).release();
  await waitFor(() => fakes.byId(1).exited, 1000, 'worker 1 to drain and exit');
  t.match(ofType(fakes.byId(1), 'shutdown'), [{ deadlineMs: 5000 }]);
  await waitFor(() => fakes.all.length === 4, 1000, 'the second replacement');
  t.notOk(fakes.byId(2).types().includes('shutdown'), 'worker 2 waits for its own replacement');
  t.same(supervisor.servingWorkerIds(), [2, 3], 'meanwhile worker 2 serves beside its successor-to-be 3; 4 does not serve yet');
  fakes.byId(4).release();
  t.same(await restart, { replaced: 2 });
  t.same(
    fakes.journal.filter((e) => /^\d (started|-> ready|<- shutdown|exited)$/.test(e)).slice(4),
    ['3 started', '3 -> ready', '1 <- shutdown', '1 exited', '4 started', '4 -> ready', '2 <- shutdown', '2 exited'],
    'start, serve, drain the old one; then the next',
  );
  t.same(supervisor.servingWorkerIds(), [3, 4]);
  t.equal(supervisor.restarts, 0, 'a replacement is not a respawn');
  t.equal(died().length, 0, 'a drained worker did not crash');
});

t.test('shutdown tells every worker to drain within the deadline, kills one that ignores it, and respawns nothing', async (t) => {
  const { supervisor, fakes, serving, died } = setup(t, { workers: 3 });
  await serving();
  fakes.byId(3).obeysShutdown = false;
  const started = Date.now();
  await supervisor.shutdown(100);
  const took = Date.now() - started;
  for (const worker of fakes.all) t.match(ofType(worker, 'shutdown'), [{ deadlineMs: 100 }], `worker ${worker.id} told to drain within 100 ms`);
  t.same(fakes.byId(3).killedWith, ['SIGKILL'], 'the one that ignored it is killed');
  t.ok(took >= 2000 && took < 10_000, `resolved once all had exited, the last killed 2 s after the deadline (${took} ms)`);
  t.ok(fakes.all.every((w) => w.exited));
  await sleep(300);
  t.equal(fakes.all.length, 3, 'nothing respawned');
  t.equal(died().length, 0);
});
