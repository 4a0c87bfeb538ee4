/**
 * The node registry against a real redis-server: who is listed, how fast a node that stops or
 * dies drops out, and how heartbeats ride out a Redis outage.
 */
import t, { type Test } from 'tap';
import { once } from 'node:events';
import { NodeRegistry, type NodeIdentity } from '../../../src/shared/state/node-registry.js';
import { closeRedisConnection, createRedisConnection, type RedisConnection } from '../../../src/shared/state/redis-connection.js';
import { startRedis, type TestRedis } from '../../helpers/redis.js';

const HEARTBEAT_MS = 150;
const TTL_MS = 600;

const redis = await startRedis();
t.teardown(() => redis.stop());

async function connect(t: Test, server: TestRedis = redis): Promise<RedisConnection> {
  const connection = createRedisConnection({ url: server.url, keyPrefix: 'veloflux:', commandTimeout: 300 }, 'registry-test');
  t.teardown(() => closeRedisConnection(connection));
  await once(connection, 'ready');
  return connection;
}

const STARTED = new Date(Date.now() - 60_000).toISOString();

function identity(id: string): NodeIdentity {
  return { id, address: `10.0.0.${id.length}:9090`, version: '0.1.0', started: STARTED };
}

/** A started registry on its own connection (as each VeloFlux instance has), stopped at the end. */
async function register(t: Test, id: string, keyPrefix: string, server: TestRedis = redis, log?: (message: string) => void) {
  const connection = await connect(t, server);
  const registry = new NodeRegistry(connection, { keyPrefix, node: identity(id), heartbeatMs: HEARTBEAT_MS, ttlMs: TTL_MS, log });
  t.teardown(() => registry.stop());
  registry.start();
  return { registry, connection };
}

const idsOf = async (registry: NodeRegistry) => (await registry.list()).map((n) => n.id);

/** Polls an async condition (a failed call counts as false); resolves with the ms it took. */
async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = performance.now();
  while (!(await condition().catch(() => false))) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - started;
}

t.test('three instances each list all three, with their fields, sorted by id', async (t) => {
  const ids = ['node-b', 'node:c*', 'node-a'];
  const registries = [];
  for (const id of ids) registries.push((await register(t, id, 'three:')).registry);
  const [b] = registries;
  await until(async () => (await idsOf(b!)).length === 3, 1000, 'three nodes');

  const nodes = await b!.list();
  t.same(
    nodes.map((n) => n.id),
    ['node-a', 'node-b', 'node:c*'],
    'every node, ids intact',
  );
  for (const node of nodes) {
    const { lastSeen, self, ...fields } = node;
    t.same(fields, identity(node.id), `${node.id}: id, address, version, started`);
    t.equal(self, node.id === 'node-b', `${node.id}: self only for the asking instance`);
    t.ok(Math.abs(Date.parse(lastSeen) - Date.now()) < 1000, `${node.id}: lastSeen ${lastSeen} is recent`);
  }
  const firstSeen = nodes[0]!.lastSeen;
  await new Promise((r) => setTimeout(r, HEARTBEAT_MS * 2 + 50));
  const later = (await b!.list())[0]!.lastSeen;
  t.ok(Date.parse(later) > Date.parse(firstSeen), 'lastSeen moves with each heartbeat');
});

t.test('an instance that stops leaves the list at once', async (t) => {
  const { registry: a } = await register(t, 'node-a', 'stop:');
  const { registry: b } = await register(t, 'node-b', 'stop:');
  await until(async () => (await idsOf(a)).length === 2, 1000, 'two nodes');
  t.same(await idsOf(a), ['node-a', 'node-b']);
  await b.stop();
  t.same(await idsOf(a), ['node-a'], 'gone right after stop(), not after the ttl');
  await new Promise((r) => setTimeout(r, HEARTBEAT_MS * 2));
  t.same(await idsOf(a), ['node-a'], 'and it stays gone: no late heartbeat brings it back');
});

t.test('an instance that dies without leaving drops out within the ttl', async (t) => {
  const { registry: a } = await register(t, 'node-a', 'die:');
  const { connection: dyingConnection } = await register(t, 'node-dies', 'die:');
  await until(async () => (await idsOf(a)).length === 2, 1000, 'two nodes');
  t.same(await idsOf(a), ['node-a', 'node-dies']);

  // Like a killed process: its heartbeats stop and nothing deregisters it.
  dyingConnection.disconnect();
  const goneAfter = await until(async () => !(await idsOf(a)).includes('node-dies'), TTL_MS + 500, 'the dead node to drop out');
  // The margin covers the 20 ms polling and one list() round trip, not a late expiry.
  t.ok(goneAfter <= TTL_MS + 100, `gone after ${goneAfter.toFixed(0)} ms (ttl ${TTL_MS} ms)`);
  t.ok(goneAfter >= TTL_MS - HEARTBEAT_MS - 100, 'not before its last heartbeat expired');
  t.same(await idsOf(a), ['node-a'], 'the live node stays');
});

t.test('Redis down: heartbeats fail quietly (said once) and the node registers again when Redis returns', async (t) => {
  const server = await startRedis();
  t.teardown(() => server.stop());
  const messages: string[] = [];
  const { registry } = await register(t, 'node-a', 'outage:', server, (message) => messages.push(message));
  await until(async () => (await idsOf(registry)).length === 1, 1000, 'the node registered');

  await server.stop();
  await t.rejects(registry.list(), { code: 'VF_ERR_STATE_UNAVAILABLE' }, 'list() says Redis is unavailable');
  await new Promise((r) => setTimeout(r, HEARTBEAT_MS * 5));
  t.equal(messages.length, 1, `one message for the whole outage: ${messages.join(' | ')}`);

  // The restarted Redis is empty: the registry must put itself back without help.
  await server.start();
  const backAfter = await until(async () => (await idsOf(registry)).includes('node-a'), 2500, 'the node registered again');
  t.pass(`registered again ${backAfter.toFixed(0)} ms after Redis returned`);
  t.equal(messages.length, 2, `and one message when heartbeats work again: ${messages[1]}`);
});

t.test('options are checked once, in the constructor', async (t) => {
  const connection = await connect(t);
  t.throws(() => new NodeRegistry(connection, { keyPrefix: 'x:', node: identity('a'), heartbeatMs: 1000, ttlMs: 1000 }), { code: 'VF_ERR_CONFIG_INVALID' });
});
