/**
 * A worker's StateReplica against the primary's StateService over a link that behaves like IPC
 * (JSON-serialised, asynchronous, in order), with a real embedded store on disk behind it.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { StateService } from '../../../src/primary/state/state-service.js';
import { EmbeddedStateStore } from '../../../src/shared/state/embedded-store.js';
import type { PrimaryMessage, WorkerMessage } from '../../../src/shared/ipc.js';
import type { StateChange } from '../../../src/shared/state/store.js';
import { StateReplica } from '../../../src/workers/primary-link/state-replica.js';

const wire = <T>(message: T): T => JSON.parse(JSON.stringify(message)) as T;

async function setUp(options: { answer?: boolean; timeoutMs?: number } = {}) {
  const store = await EmbeddedStateStore.open(mkdtempSync(join(tmpdir(), 'vf-replica-')), 'node-1');
  const service = new StateService(store, ['users'], pino({ level: 'silent' }));
  const replicas = new Map<number, StateReplica>();
  const deliver = (workerId: number, message: PrimaryMessage) => setImmediate(() => replicas.get(workerId)?.receive(wire(message)));
  service.attach({
    sendTo: (workerId, message) => (deliver(workerId, message), replicas.has(workerId)),
    broadcast: (message) => {
      for (const id of replicas.keys()) deliver(id, message);
    },
  });
  const startWorker = async (workerId: number) => {
    const replica = new StateReplica((message: WorkerMessage) => {
      const m = wire(message);
      if (options.answer !== false && m.type === 'state-request') setImmediate(() => service.handle(workerId, m.requestId, m.request));
    }, options.timeoutMs);
    replicas.set(workerId, replica);
    await service.sync(workerId);
    await new Promise((r) => setImmediate(r));
    return replica;
  };
  return { store, startWorker };
}

t.test('a worker starts with the replicated namespaces and follows every change', async (t) => {
  const { store, startWorker } = await setUp();
  await store.put('users', 'ada', { role: 'admin' });
  const w1 = await startWorker(1);
  const w2 = await startWorker(2);
  t.same(await w1.get('users', 'ada'), { value: { role: 'admin' }, version: 1 }, 'synced at start');
  t.equal(w1.status().available, true);

  const seen: StateChange[] = [];
  w2.onChange((c) => seen.push(c));
  const written = await w1.put('users', 'grace', { role: 'viewer' }, { expectedVersion: 0 });
  t.same(written, { value: { role: 'viewer' }, version: 1 }, 'a write from a worker is answered by the primary');
  await new Promise((r) => setImmediate(r));
  t.same(await w2.get('users', 'grace'), { value: { role: 'viewer' }, version: 1 }, 'and reaches the other worker');
  t.same(seen.map((c) => [c.id, c.version, c.origin]), [['grace', 1, 'node-1']]);
  t.same((await store.get('users', 'grace'))?.version, 1, 'and is in the store');

  t.equal(await w2.delete('users', 'ada'), true);
  await new Promise((r) => setImmediate(r));
  t.equal(await w1.get('users', 'ada'), undefined, 'deletes replicate');
  t.same([...(await w1.list('users')).keys()], ['grace']);
});

t.test('non-replicated namespaces and counters are asked of the primary; errors keep their code', async (t) => {
  const { store, startWorker } = await setUp();
  const w = await startWorker(1);
  t.equal(await w.increment('usage', 'tenant:a*', 3), 3);
  t.equal(await w.increment('usage', 'tenant:a*'), 4);
  t.equal(await w.counter('usage', 'tenant:a*'), 4);
  await store.put('sessions', 's1', { u: 'ada' });
  t.same(await w.get('sessions', 's1'), { value: { u: 'ada' }, version: 1 });
  t.same([...(await w.list('sessions'))], [['s1', { value: { u: 'ada' }, version: 1 }]], 'lists survive the wire');
  await t.rejects(w.put('users', 'x', 1, { expectedVersion: 4 }), { code: 'VF_ERR_STATE_CONFLICT', name: 'VelofluxError' });
});

t.test('a primary that does not answer fails the request with VF_ERR_STATE_UNAVAILABLE after the timeout', async (t) => {
  const { startWorker } = await setUp({ answer: false, timeoutMs: 150 });
  const w = await startWorker(1);
  const started = performance.now();
  await t.rejects(w.put('users', 'x', 1), { code: 'VF_ERR_STATE_UNAVAILABLE' });
  const took = performance.now() - started;
  t.ok(took >= 140 && took < 1000, `failed after ${took.toFixed(0)} ms`);
  t.same(await w.get('users', 'x'), undefined, 'nothing written');
});

t.test('changes that arrive before the first sync are applied on top of it, never under it', async (t) => {
  const replica = new StateReplica(() => {});
  const change = (version: number, value: unknown, deleted = false): PrimaryMessage =>
    ({ v: 1, type: 'state-change', change: { namespace: 'users', id: 'a', version, value, deleted, origin: 'n' } }) as PrimaryMessage;
  replica.receive(change(3, 'three'));
  t.equal(replica.status().available, false, 'not available before the sync');
  replica.receive({ v: 1, type: 'state-sync', namespaces: { users: [['a', { value: 'two', version: 2 }]] }, status: { backend: 'embedded', available: true, since: '' } } as PrimaryMessage);
  t.same(await replica.get('users', 'a'), { value: 'three', version: 3 }, 'the later change wins over the older sync');
  replica.receive(change(2, 'stale'));
  t.same(await replica.get('users', 'a'), { value: 'three', version: 3 }, 'an older change is ignored');
  replica.receive(change(3, undefined, true));
  t.equal(await replica.get('users', 'a'), undefined, 'a delete at the current version removes it');
});
