/** Idempotency-Key: one run per key, the stored answer replayed, mismatches and running requests refused, expiry and pruning. */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedStateStore } from '../../../src/shared/state/embedded-store.js';
import { VelofluxError } from '../../../src/shared/errors.js';
import { IDEMPOTENCY_TTL_MS, IdempotentRequests } from '../../../src/shared/http/idempotency.js';

const store = await EmbeddedStateStore.open(mkdtempSync(join(tmpdir(), 'idempotency-')), 'node');
t.teardown(() => store.close());

t.test('runs once, replays the answer, refuses another request under the same key', async (t) => {
  const requests = new IdempotentRequests(store);
  let runs = 0;
  const action = async () => ({ status: 200, body: { run: ++runs } });
  t.same(await requests.run('user-1', 'k1', { plan: 'pro' }, action), { status: 200, body: { run: 1 }, replayed: false });
  t.same(await requests.run('user-1', 'k1', { plan: 'pro' }, action), { status: 200, body: { run: 1 }, replayed: true });
  t.equal(runs, 1);
  await t.rejects(requests.run('user-1', 'k1', { plan: 'max' }, action), { code: 'VF_ERR_IDEMPOTENCY_CONFLICT' });
  t.same((await requests.run('user-2', 'k1', { plan: 'pro' }, action)).body, { run: 2 }, 'keys are per user');
  await t.rejects(requests.run('user-1', 'bad key with spaces', {}, action), { code: 'VF_ERR_VALIDATION' });
});

t.test('a 4xx answer is stored, a 5xx frees the key; a running request refuses its twin', async (t) => {
  const requests = new IdempotentRequests(store);
  const refused = async () => {
    throw new VelofluxError('VF_ERR_PLAN_UNCHANGED', 'already on pro');
  };
  t.match(await requests.run('u', 'k4', {}, refused), { status: 409, body: { error: { code: 'VF_ERR_PLAN_UNCHANGED' } }, replayed: false });
  t.match(await requests.run('u', 'k4', {}, async () => ({ status: 200, body: {} })), { status: 409, replayed: true });
  await t.rejects(requests.run('u', 'k5', {}, async () => Promise.reject(new VelofluxError('VF_ERR_STATE_UNAVAILABLE'))), { code: 'VF_ERR_STATE_UNAVAILABLE' });
  t.match(await requests.run('u', 'k5', {}, async () => ({ status: 200, body: { ok: true } })), { status: 200, replayed: false }, 'retried after a 5xx');
  let release!: () => void;
  const slow = requests.run('u', 'k6', {}, () => new Promise((resolve) => (release = () => resolve({ status: 200, body: {} }))));
  await new Promise((r) => setTimeout(r, 50));
  await t.rejects(requests.run('u', 'k6', {}, async () => ({ status: 200, body: {} })), { code: 'VF_ERR_IDEMPOTENCY_CONFLICT', message: /still running/ });
  release();
  await slow;
});

t.test('expired records are replaced on use and pruned', async (t) => {
  const requests = new IdempotentRequests(store);
  const old = Date.now() - IDEMPOTENCY_TTL_MS - 1000;
  await requests.run('u', 'old', { a: 1 }, async () => ({ status: 200, body: 1 }), old);
  t.same((await requests.run('u', 'old', { a: 2 }, async () => ({ status: 200, body: 2 }))).body, 2, 'an expired key runs again, even for another request');
  await requests.run('u', 'stale', {}, async () => ({ status: 200, body: 0 }), old);
  t.equal(await requests.prune(), 1, 'the stale one only');
  t.same((await requests.run('u', 'old', { a: 2 }, async () => ({ status: 200, body: 3 }))).replayed, true, 'current ones stay');
});
