/**
 * The Redis state store against a real redis-server: versioned records, optimistic concurrency,
 * change events across instances, key isolation, atomic counters, and what callers see while
 * Redis is down, hung, and back.
 */
import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import type { RedisConfig } from '../../../src/shared/config/schema.js';
import { VelofluxError } from '../../../src/shared/errors.js';
import { RedisStateStore } from '../../../src/shared/state/redis-store.js';
import type { StateChange, StateStatus } from '../../../src/shared/state/store.js';
import { startRedis, type TestRedis } from '../../helpers/redis.js';
import { waitFor } from '../../helpers/processes.js';

/** Short, so the outage tests are fast; every "fails fast" assertion is measured against it. */
const COMMAND_TIMEOUT_MS = 300;

const redis = await startRedis();
t.teardown(() => redis.stop());

function configFor(server: TestRedis, keyPrefix = 'veloflux:'): RedisConfig {
  return { url: server.url, keyPrefix, commandTimeout: COMMAND_TIMEOUT_MS };
}

/** A store that is connected and subscribed, closed when the test ends. */
async function openStore(t: Test, nodeId: string, keyPrefix?: string, server: TestRedis = redis): Promise<RedisStateStore> {
  const store = new RedisStateStore(configFor(server, keyPrefix), nodeId);
  t.teardown(() => store.close());
  t.ok(await store.whenAvailable(3000), `${nodeId} connects`);
  return store;
}

/** How long a call takes to fail, and with what. */
async function timeRejection(promise: Promise<unknown>): Promise<{ error: unknown; elapsed: number }> {
  const started = performance.now();
  try {
    await promise;
  } catch (error) {
    return { error, elapsed: performance.now() - started };
  }
  throw new Error('expected a rejection, got a result');
}

const codeOf = (error: unknown) => (error instanceof VelofluxError ? error.code : String(error));

t.test('put, get, list and delete, with a version per write', async (t) => {
  const store = await openStore(t, 'node-a', 'crud:');
  t.equal(await store.get('users', 'alice'), undefined, 'nothing before the first write');

  const first = await store.put('users', 'alice', { role: 'admin' });
  t.same(first, { value: { role: 'admin' }, version: 1 });
  const second = await store.put('users', 'alice', { role: 'viewer' });
  t.equal(second.version, 2, 'each write adds one');
  t.same(await store.get('users', 'alice'), { value: { role: 'viewer' }, version: 2 });

  await store.put('users', 'bob', ['a', 1, null]);
  await store.put('tenants', 'alice', 'not a user');
  const users = await store.list('users');
  t.same([...users.keys()], ['alice', 'bob'], 'list holds only this namespace');
  t.same(users.get('bob'), { value: ['a', 1, null], version: 1 });

  t.equal(await store.delete('users', 'alice'), true);
  t.equal(await store.delete('users', 'alice'), false, 'a second delete finds nothing');
  t.equal(await store.get('users', 'alice'), undefined);
  t.same([...(await store.list('users')).keys()], ['bob']);
  t.same(await store.get('tenants', 'alice'), { value: 'not a user', version: 1 }, 'same id in another namespace untouched');
  t.equal((await store.put('users', 'alice', 1)).version, 1, 'a record written again after a delete starts over');
});

t.test('countInWindow is shared by instances and its window expires', async (t) => {
  const a = await openStore(t, 'node-a', 'window:');
  const b = await openStore(t, 'node-b', 'window:');
  t.same([await a.countInWindow('logins', 'u:1*', 200), await b.countInWindow('logins', 'u:1*', 200), await a.countInWindow('logins', 'u:1', 200)], [1, 2, 1]);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(await b.countInWindow('logins', 'u:1*', 200), 1, 'a new window after the old one expired');
});

t.test('expectedVersion: a stale version is VF_ERR_STATE_CONFLICT and writes nothing', async (t) => {
  const store = await openStore(t, 'node-a', 'conflict:');
  const changes: StateChange[] = [];
  store.onChange((c) => changes.push(c));

  t.equal((await store.put('routes', 'r1', 'v1', { expectedVersion: 0 })).version, 1, '0: created because it did not exist');
  await t.rejects(store.put('routes', 'r1', 'again', { expectedVersion: 0 }), { code: 'VF_ERR_STATE_CONFLICT', status: 409 }, '0: it exists now');
  await t.rejects(store.put('routes', 'r1', 'stale', { expectedVersion: 5 }), { code: 'VF_ERR_STATE_CONFLICT' });
  await t.rejects(store.delete('routes', 'r1', { expectedVersion: 2 }), { code: 'VF_ERR_STATE_CONFLICT' });
  t.same(await store.get('routes', 'r1'), { value: 'v1', version: 1 }, 'the record is as it was');

  t.equal((await store.put('routes', 'r1', 'v2', { expectedVersion: 1 })).version, 2, 'the current version wins');
  t.equal(await store.delete('routes', 'r1', { expectedVersion: 2 }), true);
  await waitFor(() => changes.length === 3, 1000, 'the three successful writes as events');
  t.same(
    changes.map((c) => [c.version, c.deleted]),
    [
      [1, false],
      [2, false],
      [2, true],
    ],
    'rejected writes publish nothing',
  );
});

t.test('a put through one instance reaches every instance once, with its origin', async (t) => {
  const a = await openStore(t, 'node-a', 'events:');
  const b = await openStore(t, 'node-b', 'events:');
  const seenByA: StateChange[] = [];
  const seenByB: StateChange[] = [];
  a.onChange((c) => seenByA.push(c));
  b.onChange((c) => seenByB.push(c));

  const started = performance.now();
  await a.put('backends', 'web-1', { url: 'http://10.0.0.5:8080', weight: 3 });
  await waitFor(() => seenByB.length === 1, 1000, 'B hears the change');
  t.ok(performance.now() - started < 1000, 'within 1 s');
  t.same(seenByB[0], { namespace: 'backends', id: 'web-1', version: 1, value: { url: 'http://10.0.0.5:8080', weight: 3 }, deleted: false, origin: 'node-a' });

  await b.delete('backends', 'web-1');
  await waitFor(() => seenByA.length === 2 && seenByB.length === 2, 1000, 'the delete on both');
  t.same(seenByA[1], { namespace: 'backends', id: 'web-1', version: 1, value: undefined, deleted: true, origin: 'node-b' });
  t.same(seenByA, seenByB, 'both saw the same changes, in the same order');

  await new Promise((r) => setTimeout(r, 100));
  t.equal(seenByA.length, 2, 'each change delivered once per store');
});

t.test('ids with ":", "*", "{", "%" never collide and come back intact from list', async (t) => {
  const store = await openStore(t, 'node-a', 'ids:');
  const ids = ['a', 'b', 'a:b', 'a%3Ab', 'a*', '*', '{a}', 'a:b:*', '%', ' '];
  for (const id of ids) await store.put('odd', id, `value of ${id}`);
  // Namespaces are escaped too: "odd:a" is not namespace "odd" with id "a".
  await store.put('odd:a', 'b', 'other namespace');
  await store.increment('odd', 'a:b', 7);

  const listed = await store.list<string>('odd');
  t.same([...listed.keys()].sort(), [...ids].sort(), 'every id, exactly as written');
  for (const id of ids) {
    t.same(await store.get('odd', id), { value: `value of ${id}`, version: 1 }, JSON.stringify(id));
  }
  t.same([...(await store.list('odd:a')).keys()], ['b']);
  t.equal(await store.counter('odd', 'a:b'), 7);
  t.equal(await store.counter('odd', 'a%3Ab'), 0, 'counters are as separate as records');
});

t.test('two key prefixes on one Redis share nothing', async (t) => {
  const blue = await openStore(t, 'node-a', 'blue:');
  const green = await openStore(t, 'node-a', 'green:');
  const greenChanges: StateChange[] = [];
  green.onChange((c) => greenChanges.push(c));

  await blue.put('config', 'main', 'blue config');
  await blue.increment('usage', 'tenant-1', 5);
  t.equal(await green.get('config', 'main'), undefined);
  t.equal((await green.list('config')).size, 0);
  t.equal(await green.counter('usage', 'tenant-1'), 0);
  await green.put('config', 'main', 'green config');
  t.same(await blue.get('config', 'main'), { value: 'blue config', version: 1 });
  await waitFor(() => greenChanges.length === 1, 1000, 'green hears its own write');
  await new Promise((r) => setTimeout(r, 100));
  t.same(
    greenChanges.map((c) => c.value),
    ['green config'],
    "and none of blue's",
  );
});

t.test('counters add atomically under concurrency', async (t) => {
  const a = await openStore(t, 'node-a', 'counters:');
  const b = await openStore(t, 'node-b', 'counters:');
  t.equal(await a.counter('rate', 'client-1'), 0, 'a counter starts at 0');
  const totals = await Promise.all([...Array.from({ length: 500 }, () => a.increment('rate', 'client-1')), ...Array.from({ length: 500 }, () => b.increment('rate', 'client-1'))]);
  t.equal(await a.counter('rate', 'client-1'), 1000);
  t.equal(new Set(totals).size, 1000, 'every increment saw a different total');
  t.equal(await b.increment('rate', 'client-1', -400), 600, 'negative steps subtract');
  await t.rejects(a.increment('rate', 'client-1', 0.5), TypeError);
});

t.test('Redis down: calls fail fast with VF_ERR_STATE_UNAVAILABLE; back up: status and writes recover', async (t) => {
  const server = await startRedis();
  t.teardown(() => server.stop());
  const store = await openStore(t, 'node-a', 'outage:', server);
  const transitions: StateStatus[] = [];
  store.onStatus((s) => transitions.push(s));
  await store.put('users', 'alice', 1);

  await server.stop();
  for (const [what, call] of [
    ['put', () => store.put('users', 'alice', 2)],
    ['get', () => store.get('users', 'alice')],
    ['list', () => store.list('users')],
    ['delete', () => store.delete('users', 'alice')],
    ['increment', () => store.increment('hits', 'x')],
  ] as const) {
    const { error, elapsed } = await timeRejection(call());
    t.equal(codeOf(error), 'VF_ERR_STATE_UNAVAILABLE', `${what}: VF_ERR_STATE_UNAVAILABLE`);
    t.ok(elapsed < COMMAND_TIMEOUT_MS + 100, `${what}: rejected in ${elapsed.toFixed(0)} ms (commandTimeout ${COMMAND_TIMEOUT_MS} ms)`);
  }
  await waitFor(() => !store.status().available, 1000, 'status unavailable');
  const down = store.status();
  t.equal(down.backend, 'redis');
  t.type(down.error, 'string', `the reason is given: ${down.error}`);
  t.same(
    transitions.map((s) => s.available),
    [false],
    'onStatus told about the outage',
  );

  // Long enough for the reconnect backoff to reach its 1 s cap.
  await new Promise((r) => setTimeout(r, 1200));
  const restarted = performance.now();
  await server.start();
  await waitFor(() => store.status().available, 2000, 'available again within 2 s');
  t.ok(performance.now() - restarted < 2000);
  t.same(
    transitions.map((s) => s.available),
    [false, true],
    'onStatus told about the recovery',
  );
  t.equal(transitions[1]!.error, undefined);

  // The restarted server is empty and has none of the scripts cached: writes still work.
  const changes: StateChange[] = [];
  store.onChange((c) => changes.push(c));
  t.same(await store.put('users', 'alice', 3), { value: 3, version: 1 });
  await waitFor(() => changes.length === 1, 1000, 'change events flow again after the reconnect');
});

t.test('Redis hung: a call gives up after commandTimeout instead of waiting', async (t) => {
  const store = await openStore(t, 'node-a', 'hang:');
  const admin = new Redis(redis.url);
  t.teardown(() => admin.quit());
  await store.put('users', 'alice', 1);

  // CLIENT PAUSE stops the server answering every client for a while: a hang, not an outage.
  const pauseMs = COMMAND_TIMEOUT_MS * 2;
  await admin.call('CLIENT', 'PAUSE', String(pauseMs), 'ALL');
  const paused = performance.now();
  const { error, elapsed } = await timeRejection(store.get('users', 'alice'));
  t.equal(codeOf(error), 'VF_ERR_STATE_UNAVAILABLE');
  t.ok(elapsed >= COMMAND_TIMEOUT_MS - 20 && elapsed < COMMAND_TIMEOUT_MS + 100, `gave up after ${elapsed.toFixed(0)} ms (commandTimeout ${COMMAND_TIMEOUT_MS} ms)`);
  t.ok(store.status().available, 'a slow answer is not an outage: the connection is still up');
  await new Promise((r) => setTimeout(r, pauseMs + 50 - (performance.now() - paused)));
  t.same(await store.get('users', 'alice'), { value: 1, version: 1 }, 'works again once Redis answers');
});

t.test('close() ends both connections; status says closed', async (t) => {
  const store = await openStore(t, 'node-a', 'close:');
  await store.close();
  t.equal(store.status().available, false);
  t.equal(store.status().error, 'closed');
  await t.rejects(store.get('users', 'alice'), { code: 'VF_ERR_STATE_UNAVAILABLE' });
});
