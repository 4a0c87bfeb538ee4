/**
 * How createRedisConnection sets up a Sentinel connection (issue 13, item 2): ioredis only
 * follows a planned `SENTINEL failover` at once when its failoverDetector listens to the
 * sentinels' +switch-master; it is off by default.
 */
import t from 'tap';
import { Redis } from 'ioredis';
import { closeRedisConnection, createRedisConnection } from '../../../src/shared/state/redis-connection.js';

t.test('a Sentinel connection listens for planned failovers (failoverDetector)', async (t) => {
  // Nothing listens on port 1: the connection only retries in the background until closed.
  const sentinel = createRedisConnection({ sentinels: [{ host: '127.0.0.1', port: 1 }], name: 'mymaster', keyPrefix: 'vf:', commandTimeout: 300 }, 'state');
  t.teardown(() => closeRedisConnection(sentinel));
  t.ok(sentinel instanceof Redis, 'one connection to the master the sentinels name');
  t.match((sentinel as Redis).options, { failoverDetector: true, name: 'mymaster', connectionName: 'veloflux-state' });
});
