/**
 * The leader lease against a real redis-server: exactly one leader, hand-over on a clean stop, on
 * a dead leader and during a Redis outage, and fencing tokens that only go up.
 */
import t, { type Test } from 'tap';
import { once } from 'node:events';
import { LeaderLease } from '../../../src/shared/state/leader-lease.js';
import { closeRedisConnection, createRedisConnection, type RedisConnection } from '../../../src/shared/state/redis-connection.js';
import { startRedis, type TestRedis } from '../../helpers/redis.js';
import { waitFor } from '../../helpers/processes.js';

const TTL_MS = 600;
const RENEW_MS = 200;
/** Scheduling and one round trip to Redis, on top of each bound under test. */
const SLACK_MS = 100;

const redis = await startRedis();
t.teardown(() => redis.stop());

interface Contender {
  readonly nodeId: string;
  readonly lease: LeaderLease;
  readonly connection: RedisConnection;
}

/** Every leadership change of every contender of a test, in order, with its fencing token. */
interface Transition {
  readonly nodeId: string;
  readonly isLeader: boolean;
  readonly fencingToken: number | undefined;
  readonly at: number;
}

async function contenders(t: Test, keyPrefix: string, count: number, server: TestRedis = redis): Promise<{ all: Contender[]; transitions: Transition[] }> {
  const all: Contender[] = [];
  const transitions: Transition[] = [];
  for (let i = 1; i <= count; i++) {
    const nodeId = `node-${i}`;
    const connection = createRedisConnection({ url: server.url, keyPrefix, commandTimeout: 300 }, `lease-test-${i}`);
    t.teardown(() => closeRedisConnection(connection));
    await once(connection, 'ready');
    const lease = new LeaderLease(connection, { keyPrefix, name: 'training', nodeId, ttlMs: TTL_MS, renewEveryMs: RENEW_MS });
    t.teardown(() => lease.stop());
    lease.onChange((isLeader) => transitions.push({ nodeId, isLeader, fencingToken: lease.fencingToken, at: performance.now() }));
    all.push({ nodeId, lease, connection });
  }
  for (const { lease } of all) lease.start();
  return { all, transitions };
}

const leadersOf = (all: readonly Contender[]) => all.filter((c) => c.lease.isLeader);

/** Waits for a single leader among `all` and returns it. */
async function oneLeader(all: readonly Contender[], timeoutMs: number): Promise<Contender> {
  await waitFor(() => leadersOf(all).length === 1, timeoutMs, 'one leader');
  return leadersOf(all)[0]!;
}

/** Fails the test if two contenders ever lead at once, sampling every few ms until stopped. */
function watchForTwoLeaders(t: Test, all: readonly Contender[]): () => void {
  const timer = setInterval(() => {
    const leaders = leadersOf(all);
    if (leaders.length > 1) t.fail(`two leaders at once: ${leaders.map((c) => c.nodeId).join(', ')}`);
  }, 5);
  return () => clearInterval(timer);
}

function assertTokensIncrease(t: Test, transitions: readonly Transition[]): void {
  const tokens = transitions.filter((tr) => tr.isLeader).map((tr) => tr.fencingToken);
  t.ok(
    tokens.every((token, i) => token !== undefined && (i === 0 || token > tokens[i - 1]!)),
    `fencing tokens strictly increase across leaders: ${tokens.join(' < ')}`,
  );
}

t.test('three contenders: exactly one leader at every sampled moment', async (t) => {
  const { all, transitions } = await contenders(t, 'steady:', 3);
  const leader = await oneLeader(all, 1000);
  t.equal(await leader.lease.holder(), leader.nodeId, 'holder() names it');
  t.type(leader.lease.fencingToken, 'number');

  let samples = 0;
  let wrong = 0;
  const until = performance.now() + 2000;
  while (performance.now() < until) {
    samples++;
    if (leadersOf(all).length !== 1) wrong++;
    await new Promise((r) => setTimeout(r, 10));
  }
  t.equal(wrong, 0, `one leader in each of ${samples} samples over 2 s`);
  t.equal(leadersOf(all)[0], leader, 'the same one: renewals keep it');
  t.equal(transitions.length, 1, 'no flapping');
  for (const other of all.filter((c) => c !== leader)) t.equal(other.lease.fencingToken, undefined, `${other.nodeId} has no fencing token`);
});

t.test('the leader stops: another leads within one renew interval', async (t) => {
  const { all, transitions } = await contenders(t, 'handover:', 3);
  const stopWatching = watchForTwoLeaders(t, all);
  const first = await oneLeader(all, 1000);

  const stopping = performance.now();
  await first.lease.stop();
  t.equal(first.lease.isLeader, false);
  t.same(transitions.at(-1), { ...transitions.at(-1)!, nodeId: first.nodeId, isLeader: false }, 'it announced stepping down');
  const second = await oneLeader(all, RENEW_MS + SLACK_MS);
  const elapsed = performance.now() - stopping;
  t.not(second, first);
  t.ok(elapsed <= RENEW_MS + SLACK_MS, `${second.nodeId} leads ${elapsed.toFixed(0)} ms after the stop (renew every ${RENEW_MS} ms)`);
  t.equal(await second.lease.holder(), second.nodeId);
  stopWatching();
  assertTokensIncrease(t, transitions);
});

t.test('the leader dies without releasing: another leads within ttl + one renew interval', async (t) => {
  const { all, transitions } = await contenders(t, 'dies:', 3);
  const stopWatching = watchForTwoLeaders(t, all);
  const first = await oneLeader(all, 1000);

  // Its connection is gone (a partition, a killed process): it can neither renew nor release.
  first.connection.disconnect();
  const died = performance.now();
  await waitFor(() => leadersOf(all).some((c) => c !== first), TTL_MS + RENEW_MS + SLACK_MS, 'a new leader');
  const elapsed = performance.now() - died;
  t.ok(elapsed <= TTL_MS + RENEW_MS + SLACK_MS, `new leader after ${elapsed.toFixed(0)} ms (ttl ${TTL_MS} + renew ${RENEW_MS} ms)`);
  t.equal(first.lease.isLeader, false, 'the cut-off leader no longer believes it leads');
  const steppedDown = transitions.find((tr) => tr.nodeId === first.nodeId && !tr.isLeader);
  const took = transitions.find((tr) => tr.nodeId !== first.nodeId && tr.isLeader);
  t.ok(steppedDown !== undefined && took !== undefined && steppedDown.at < took.at, 'it stepped down before the new leader took over');
  stopWatching();
  assertTokensIncrease(t, transitions);
});

t.test('Redis stops: the leader steps down locally within the ttl, and leadership returns with Redis', async (t) => {
  const server = await startRedis();
  t.teardown(() => server.stop());
  const { all, transitions } = await contenders(t, 'outage:', 2, server);
  const first = await oneLeader(all, 1000);

  await server.stop();
  const stopped = performance.now();
  await waitFor(() => leadersOf(all).length === 0, TTL_MS, 'the leader to step down');
  const elapsed = performance.now() - stopped;
  t.ok(elapsed <= TTL_MS, `stepped down ${elapsed.toFixed(0)} ms after Redis stopped (ttl ${TTL_MS} ms)`);
  t.same(transitions.at(-1), { ...transitions.at(-1)!, nodeId: first.nodeId, isLeader: false }, 'onChange(false) fired');
  await new Promise((r) => setTimeout(r, TTL_MS));
  t.equal(leadersOf(all).length, 0, 'nobody leads while Redis is unreachable');
  await t.rejects(first.lease.holder(), { code: 'VF_ERR_STATE_UNAVAILABLE' });

  // The restarted Redis is empty: the fencing token must still go up, not restart at 1.
  await server.start();
  await oneLeader(all, 2500);
  assertTokensIncrease(t, transitions);
});

t.test('options are checked once, in the constructor', async (t) => {
  const connection = createRedisConnection({ url: redis.url, keyPrefix: 'x:', commandTimeout: 300 }, 'lease-options');
  t.teardown(() => closeRedisConnection(connection));
  t.throws(() => new LeaderLease(connection, { keyPrefix: 'x:', name: 'n', nodeId: 'a', ttlMs: 600, renewEveryMs: 500 }), { code: 'VF_ERR_CONFIG_INVALID' });
});
