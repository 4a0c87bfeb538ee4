/**
 * The worker's side of the snapshot protocol, in-process: SnapshotHost with a server whose
 * builds succeed or throw as the test says, and a link that records what the primary is told.
 */
import t from 'tap';
import { pino } from 'pino';
import { SnapshotHost, type HostedServer } from '../../src/workers/host.js';
import type { ConfigSnapshot, WorkerMessage } from '../../src/shared/ipc.js';

interface FakeBuilt {
  readonly version: number;
}

/** A snapshot as the host reads it: its version and the configured worker count. */
const snapshot = (version: number, workers: number | 'auto' = 2): ConfigSnapshot => ({ version, config: { server: { workers } } }) as unknown as ConfigSnapshot;

function harness(workerId = 1) {
  const sent: WorkerMessage[] = [];
  const exits: number[] = [];
  const served: number[] = [];
  const swapped: number[] = [];
  const refuse = new Set<number>();
  const server: HostedServer<FakeBuilt> = {
    build: (s) => {
      if (refuse.has(s.version)) throw Object.assign(new Error(`cannot read "ca.pem" for version ${s.version}`), { code: 'VF_ERR_CONFIG_INVALID' });
      return { version: s.version };
    },
    serve: (_s, built) => void served.push(built.version),
    swapIn: (built) => void swapped.push(built.version),
  };
  const host = new SnapshotHost(server, { send: (m) => void sent.push(m), exit: (code) => void exits.push(code) }, workerId, pino({ level: 'silent' }));
  const types = () => sent.map((m) => ('configVersion' in m ? `${m.type} ${m.configVersion}` : m.type));
  return { host, sent, exits, served, swapped, refuse, types };
}

t.test('the first snapshot starts serving; a later plain snapshot is swapped in at once', async (t) => {
  const h = harness();
  h.host.snapshot(snapshot(1));
  t.same(h.served, [1]);
  t.ok(h.host.serving);
  t.same(h.types(), [], 'ready is the server’s to send, once its listeners are bound');
  h.host.snapshot(snapshot(2));
  t.same(h.swapped, [2]);
  t.same(h.types(), ['snapshot-applied 2']);
});

t.test('prepare holds the build; only commit of that version swaps it in', async (t) => {
  const h = harness();
  h.host.snapshot(snapshot(1));
  h.host.prepare(snapshot(2));
  t.same(h.types(), ['prepared 2']);
  t.same(h.swapped, [], 'nothing serves the prepared runtime before the commit');
  h.host.commit(2);
  t.same(h.swapped, [2]);
  t.same(h.types(), ['prepared 2', 'snapshot-applied 2']);
});

t.test('abort drops the prepared build: a later commit of it finds nothing', async (t) => {
  const h = harness();
  h.host.snapshot(snapshot(1));
  h.host.prepare(snapshot(2));
  h.host.abort(2);
  h.host.commit(2);
  t.same(h.swapped, []);
  t.match(h.sent.at(-1), { type: 'snapshot-failed', configVersion: 2, reason: 'nothing prepared for this version' });
});

t.test('an abort for another version keeps what is prepared', async (t) => {
  const h = harness();
  h.host.snapshot(snapshot(1));
  h.host.prepare(snapshot(3));
  h.host.abort(2);
  h.host.commit(3);
  t.same(h.swapped, [3]);
});

t.test('a commit for a version other than the prepared one swaps nothing in', async (t) => {
  const h = harness();
  h.host.snapshot(snapshot(1));
  h.host.prepare(snapshot(2));
  h.host.commit(3);
  t.same(h.swapped, []);
  t.match(h.sent.at(-1), { type: 'snapshot-failed', configVersion: 3 });
  h.host.commit(2);
  t.same(h.swapped, [], 'the failed commit also dropped version 2: the primary aborts it everywhere');
});

t.test('a change this worker cannot build is refused with the reason, and the running one keeps serving', async (t) => {
  const h = harness();
  h.host.snapshot(snapshot(1));
  h.refuse.add(2);
  h.host.prepare(snapshot(2));
  t.match(h.sent.at(-1), { type: 'snapshot-failed', configVersion: 2, reason: /cannot read "ca.pem"/ });
  h.host.commit(2);
  t.same(h.swapped, [], 'nothing to commit');
  t.same(h.exits, [], 'the worker stays up');
  t.ok(h.host.serving);
});

t.test('a later prepare replaces an earlier one that was never committed', async (t) => {
  const h = harness();
  h.host.snapshot(snapshot(1));
  h.host.prepare(snapshot(2));
  h.refuse.add(3);
  h.host.prepare(snapshot(3));
  h.host.commit(2);
  t.same(h.swapped, [], 'the refused prepare 3 dropped prepare 2');
});

t.test('one of the first workers that cannot build the initial config reports fatal and exits', async (t) => {
  const h = harness(2);
  h.refuse.add(1);
  h.host.snapshot(snapshot(1, 2));
  t.match(h.sent, [{ type: 'fatal', code: 'VF_ERR_CONFIG_INVALID', message: /^cannot start serving: cannot read "ca.pem"/ }]);
  t.same(h.exits, [1]);
  t.same(h.served, []);
});

t.test('a replacement worker (higher id) that cannot build only reports it and waits', async (t) => {
  const h = harness(3);
  h.refuse.add(1);
  h.host.snapshot(snapshot(1, 2));
  t.same(h.exits, []);
  t.match(h.sent, [{ type: 'snapshot-failed', configVersion: 1 }]);
  t.notOk(h.host.serving);
  h.host.snapshot(snapshot(2, 2));
  t.same(h.served, [2], 'a later snapshot it can build starts it');
});

t.test('with workers: auto no worker counts as initial: a failed first build is reported, not fatal', async (t) => {
  const h = harness(1);
  h.refuse.add(1);
  h.host.snapshot(snapshot(1, 'auto'));
  t.same(h.exits, []);
  t.match(h.sent, [{ type: 'snapshot-failed' }]);
});

t.test('a commit before the worker serves is refused', async (t) => {
  const h = harness();
  h.host.prepare(snapshot(1));
  h.host.commit(1);
  t.same(h.served, []);
  t.same(h.swapped, []);
  t.match(h.sent.at(-1), { type: 'snapshot-failed', configVersion: 1 });
});
