import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmbeddedStateStore, StateFileError } from '../../../src/shared/state/embedded-store.js';
import type { StateChange } from '../../../src/shared/state/store.js';

const dataDir = () => mkdtempSync(join(tmpdir(), 'vf-state-'));

t.test('records are versioned, written through, and survive a reopen', async (t) => {
  const dir = dataDir();
  const store = await EmbeddedStateStore.open(dir, 'node-a');
  const changes: StateChange[] = [];
  store.onChange((c) => changes.push(c));

  t.same(await store.put('users', 'u:1*', { name: 'Ada' }), { value: { name: 'Ada' }, version: 1 });
  t.same(await store.put('users', 'u:1*', { name: 'Ada L.' }), { value: { name: 'Ada L.' }, version: 2 });
  await store.put('users', 'u2', { name: 'Grace' });
  t.equal(await store.increment('usage', 'tenant-a', 5), 5);
  t.equal(await store.increment('usage', 'tenant-a', -2), 3);
  t.same(changes.map((c) => [c.namespace, c.id, c.version, c.deleted, c.origin]), [
    ['users', 'u:1*', 1, false, 'node-a'],
    ['users', 'u:1*', 2, false, 'node-a'],
    ['users', 'u2', 1, false, 'node-a'],
  ], 'a change event per record write (counters are not events)');

  t.equal(await store.delete('users', 'u2'), true);
  t.equal(await store.delete('users', 'u2'), false, 'deleting what is not there says so');
  await store.close();

  const reopened = await EmbeddedStateStore.open(dir, 'node-a');
  t.same(await reopened.get('users', 'u:1*'), { value: { name: 'Ada L.' }, version: 2 });
  t.equal(await reopened.get('users', 'u2'), undefined);
  t.same([...(await reopened.list('users')).keys()], ['u:1*']);
  t.equal(await reopened.counter('usage', 'tenant-a'), 3);
  t.same(readdirSync(join(dir, 'state')).sort(), ['usage.json', 'users.json'], 'one file per namespace, no temp files left');
});

t.test('expectedVersion guards against lost updates', async (t) => {
  const store = await EmbeddedStateStore.open(dataDir(), 'n');
  await store.put('tenants', 't1', { plan: 'free' }, { expectedVersion: 0 });
  await t.rejects(store.put('tenants', 't1', { plan: 'pro' }, { expectedVersion: 0 }), { code: 'VF_ERR_STATE_CONFLICT' }, 'must-not-exist refused');
  await t.rejects(store.put('tenants', 't1', { plan: 'pro' }, { expectedVersion: 5 }), { code: 'VF_ERR_STATE_CONFLICT' });
  await t.rejects(store.delete('tenants', 't1', { expectedVersion: 2 }), { code: 'VF_ERR_STATE_CONFLICT' });
  t.same(await store.get('tenants', 't1'), { value: { plan: 'free' }, version: 1 }, 'nothing written by refused writes');
  t.same(await store.put('tenants', 't1', { plan: 'pro' }, { expectedVersion: 1 }), { value: { plan: 'pro' }, version: 2 });
});

t.test('a burst is group-committed, in order, and every write is acknowledged', async (t) => {
  const store = await EmbeddedStateStore.open(dataDir(), 'n');
  const writes = Array.from({ length: 200 }, (_, i) => store.put('config', 'runtime', { i }));
  const counts = Array.from({ length: 200 }, () => store.increment('usage', 'x'));
  const records = await Promise.all(writes);
  t.same(records.map((r) => r.version), Array.from({ length: 200 }, (_, i) => i + 1), 'versions follow submission order');
  t.same((await Promise.all(counts)).sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i + 1));
  t.same(await store.get('config', 'runtime'), { value: { i: 199 }, version: 200 });
});

t.test('a write the disk refuses is not visible and is reported with the path', async (t) => {
  const dir = dataDir();
  const store = await EmbeddedStateStore.open(dir, 'n');
  await store.put('users', 'a', 1);
  // A non-empty directory where the file must go: rename() cannot replace it.
  rmSync(join(dir, 'state', 'users.json'));
  mkdirSync(join(dir, 'state', 'users.json'));
  writeFileSync(join(dir, 'state', 'users.json', 'in-the-way'), '');
  const changes: StateChange[] = [];
  store.onChange((c) => changes.push(c));
  await t.rejects(store.put('users', 'a', 2), { code: 'VF_ERR_PERSIST_FAILED', message: /could not save .*users\.json/ });
  t.same(await store.get('users', 'a'), { value: 1, version: 1 }, 'the old value stays');
  t.same(changes, [], 'no change event');
});

t.test('a state file that cannot be understood stops the open with its path', async (t) => {
  const dir = dataDir();
  mkdirSync(join(dir, 'state'), { recursive: true });
  writeFileSync(join(dir, 'state', 'users.json'), '{"format": 1, "records": {');
  await t.rejects(EmbeddedStateStore.open(dir, 'n'), StateFileError);
  await t.rejects(EmbeddedStateStore.open(dir, 'n'), { message: /users\.json: not valid JSON/ });
  writeFileSync(join(dir, 'state', 'users.json'), '{"format": 7}');
  await t.rejects(EmbeddedStateStore.open(dir, 'n'), { message: /unknown format 7/ });
  writeFileSync(join(dir, 'state', 'users.json'), '{"format": 1, "records": {"a": {"value": 1}}}');
  await t.rejects(EmbeddedStateStore.open(dir, 'n'), { message: /record "a" has no valid version/ });
});

t.test('kill -9 during a burst of writes leaves a readable file holding every acknowledged write', async (t) => {
  const dir = dataDir();
  const writer = fileURLToPath(new URL('./fixtures/burst-writer.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', writer, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let acknowledged = 0;
  let buffered = '';
  const killed = new Promise<void>((resolve) => {
    child.stdout!.on('data', (data: Buffer) => {
      buffered += data.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) acknowledged = Math.max(acknowledged, Number(line));
      // Let a good number of writes land, then kill it mid-burst.
      if (acknowledged >= 300 && child.exitCode === null) {
        child.kill('SIGKILL');
        resolve();
      }
    });
  });
  await killed;
  await new Promise((r) => child.once('exit', r));
  const store = await EmbeddedStateStore.open(dir, 'n');
  const record = await store.get<{ n: number; filler: string }>('config', 'runtime');
  t.ok(record !== undefined, 'the record is readable after kill -9');
  t.ok(record!.version >= acknowledged, `version ${record!.version} >= last acknowledged ${acknowledged}`);
  t.equal(record!.value.n, record!.version, 'value and version are from the same write');
  t.equal(record!.value.filler.length, 4096, 'the value is whole');
  t.ok((await store.counter('config', 'writes')) >= acknowledged, 'counter holds every acknowledged increment');
  const left = readdirSync(join(dir, 'state')).filter((f) => f.endsWith('.tmp'));
  t.ok(left.length <= 1, `at most the interrupted temp file is left (${left.length}), and it is ignored`);
  JSON.parse(readFileSync(join(dir, 'state', 'config.json'), 'utf8'));
});

t.test('countInWindow counts hits in a window that starts with the first one, in memory only', async (t) => {
  const dir = dataDir();
  const store = await EmbeddedStateStore.open(dir, 'n');
  t.same([await store.countInWindow('logins', 'a', 150), await store.countInWindow('logins', 'a', 150), await store.countInWindow('logins', 'b', 150)], [1, 2, 1]);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(await store.countInWindow('logins', 'a', 150), 1, 'a new window after the old one ended');
  t.same(readdirSync(dir).filter((f) => f === 'state'), [], 'nothing written to disk');
});
