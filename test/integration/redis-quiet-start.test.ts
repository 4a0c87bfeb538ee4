/**
 * A start with a healthy Redis logs no warning about it (issue 13, item 5): every start used to
 * warn "Redis unavailable" and "cannot send heartbeats" because the connections were used before
 * they were ready.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { startRedis } from '../helpers/redis.js';
import { startUpstream } from '../helpers/upstream.js';
import { startVeloflux } from '../helpers/veloflux.js';

/** pino's numeric levels: 40 is warn. */
const WARN = 40;

t.test('a start with Redis up logs no warning mentioning Redis, heartbeats or the state store', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const upstream = await startUpstream((_req, res) => res.end('ok'));
  t.teardown(() => upstream.close());
  const config = {
    server: { redis: { url: redis.url, keyPrefix: `vf-${randomBytes(3).toString('hex')}:` } },
    pools: [{ name: 'web', backends: [{ id: 'a', url: upstream.url }] }],
    routes: [{ path: '/', pool: 'web', rateLimit: 'global' }],
    rateLimits: [{ name: 'global', key: 'route', rate: 1000 }],
  };
  for (const run of [1, 2]) {
    const started = performance.now();
    const vf = await startVeloflux(config, { workers: 2 });
    // The heartbeat, the leader lease and the rate-limit exchange all run within the first seconds.
    await new Promise((r) => setTimeout(r, 3000));
    const warnings = vf.logs().filter((l) => (l.level as number) >= WARN && /redis|heartbeat|state store/i.test(`${String(l.msg)} ${String(l.err ?? '')}`));
    t.same(warnings, [], `start ${run}: no Redis warning in the first ${((performance.now() - started) / 1000).toFixed(1)} s of logs`);
    t.match(vf.logs().find((l) => l.msg === 'state store open'), { available: true }, 'the state store was available at start');
    t.equal(await vf.stop(), 0);
  }
});
