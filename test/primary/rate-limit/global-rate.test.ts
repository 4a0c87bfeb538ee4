/**
 * The whole mechanism in one process, on real timers and a real Redis: 2 instances × 2 workers,
 * each worker a real RateLimitRegistry reporting to its instance's RateLimitCoordinator, the two
 * coordinators sharing the key through RedisDemandExchanges. Offered 3R, unevenly (instance A
 * gets 2/3 of it, split 70/30 over its workers; B gets 1/3, split 50/50), the four workers
 * together must accept R within 5% (after the initial burst). IPC is a function call here; the
 * integration test (test/integration/rate-limit.test.ts) covers the real processes.
 */
import t from 'tap';
import { Redis } from 'ioredis';
import { validateConfig } from '../../../src/shared/config/load.js';
import type { PrimaryMessage } from '../../../src/shared/ipc.js';
import { RateLimitCoordinator } from '../../../src/primary/rate-limit/rate-limit-coordinator.js';
import { RedisDemandExchange } from '../../../src/primary/rate-limit/redis-demand-exchange.js';
import { RateLimitRegistry } from '../../../src/workers/rate-limit/rate-limit-registry.js';
import type { RateLimiter } from '../../../src/workers/rate-limit/rate-limiter.js';
import { startRedis } from '../../helpers/redis.js';

const RATE = 200;
const BURST = 20;
const SECONDS = 4;
const policies = validateConfig({ server: { workers: 2 }, rateLimits: [{ name: 'global', key: 'route', rate: RATE, burst: BURST }] }, 'test', {}).rateLimits;

const redis = await startRedis();
t.teardown(() => redis.stop());

interface Worker {
  readonly registry: RateLimitRegistry;
  readonly limiter: RateLimiter;
  /** Fraction of the whole offered load this worker gets. */
  readonly weight: number;
  offered: number;
  accepted: number;
}

function startInstance(name: string, weights: [number, number]): { coordinator: RateLimitCoordinator; workers: Worker[] } {
  const client = new Redis(redis.url, { enableOfflineQueue: false, enableAutoPipelining: true, maxRetriesPerRequest: 0, commandTimeout: 200 });
  client.on('error', () => {});
  t.teardown(() => client.disconnect());
  const workers: Worker[] = weights.map((weight) => {
    const registry = new RateLimitRegistry();
    const limiter = registry.limiterFor(policies[0]!);
    registry.retain(policies);
    return { registry, limiter, weight, offered: 0, accepted: 0 };
  });
  const coordinator = new RateLimitCoordinator({
    exchange: new RedisDemandExchange(client, { keyPrefix: 'vf-sim:', instanceId: name }),
    send: (workerId, message: PrimaryMessage) => {
      if (message.type === 'rate-shares') workers[workerId - 1]!.registry.applyShares(message.defaultShare, message.policies);
    },
    workerIds: () => [1, 2],
  });
  workers.forEach((worker, i) => worker.registry.start(2, (usage) => coordinator.report(i + 1, usage)));
  coordinator.start();
  t.teardown(async () => {
    await coordinator.stop();
    for (const worker of workers) worker.registry.stop();
  });
  return { coordinator, workers };
}

t.test(`2 instances × 2 workers under 3R: together they accept R = ${RATE}/s within 5%`, async (t) => {
  const a = startInstance('instance-a', [(2 / 3) * 0.7, (2 / 3) * 0.3]);
  const b = startInstance('instance-b', [(1 / 3) * 0.5, (1 / 3) * 0.5]);
  const workers = [...a.workers, ...b.workers];
  // Instances find each other (and the default share becomes 1 / 4) before traffic starts.
  await new Promise((r) => setTimeout(r, 400));
  t.equal(workers[0]!.limiter.defaultShare, 0.25, 'default share: 1 / (2 workers × 2 instances)');

  const offeredRate = 3 * RATE;
  const start = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      const elapsed = (now - start) / 1000;
      const due = Math.min(Math.floor(elapsed * offeredRate), SECONDS * offeredRate);
      for (; sent < due; sent++) {
        // Each worker gets its weight of the load, spread evenly (largest deficit first).
        let pick = workers[0]!;
        for (const worker of workers) if (worker.weight * (sent + 1) - worker.offered > pick.weight * (sent + 1) - pick.offered) pick = worker;
        pick.offered++;
        if (pick.limiter.take('r:global', now)) pick.accepted++;
      }
      if (sent >= SECONDS * offeredRate) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
  const elapsed = (performance.now() - start) / 1000;
  const accepted = workers.reduce((n, w) => n + w.accepted, 0);
  const rate = (accepted - BURST) / elapsed;
  t.comment(`offered ${sent} in ${elapsed.toFixed(2)} s; accepted ${accepted}: ${rate.toFixed(1)}/s after the burst; per worker ${workers.map((w) => `${w.accepted}/${w.offered}`).join(', ')}`);
  t.ok(Math.abs(rate - RATE) / RATE <= 0.05, `accepted rate ${rate.toFixed(1)}/s is within 5% of ${RATE}/s`);
  const instanceA = a.workers.reduce((n, w) => n + w.accepted, 0);
  t.ok(instanceA > accepted * 0.5, `the busier instance holds the larger part (${instanceA} of ${accepted})`);
});
