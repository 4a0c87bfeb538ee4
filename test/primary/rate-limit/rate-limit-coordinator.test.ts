import t from 'tap';
import type { PrimaryMessage } from '../../../src/shared/ipc.js';
import type { RateShares } from '../../../src/shared/rate-limit-report.js';
import type { DemandExchange, InstanceShares, KeyDemand } from '../../../src/primary/rate-limit/demand-exchange.js';
import { RateLimitCoordinator } from '../../../src/primary/rate-limit/rate-limit-coordinator.js';

/** An exchange that answers with a fixed instance share and count, and records what it was told. */
class FixedExchange implements DemandExchange {
  seen: KeyDemand[][] = [];
  constructor(readonly share = 1, readonly instances = 1) {}
  async exchange(demands: readonly KeyDemand[]): Promise<InstanceShares> {
    this.seen.push([...demands]);
    return { shares: demands.map(() => this.share), instances: this.instances };
  }
  async close(): Promise<void> {}
}

type SharesMessage = Extract<PrimaryMessage, { type: 'rate-shares' }>;

function setup(workers: number[], exchange = new FixedExchange()) {
  const inbox = new Map<number, SharesMessage[]>();
  const coordinator = new RateLimitCoordinator({
    exchange,
    send: (id, message) => inbox.set(id, [...(inbox.get(id) ?? []), message as SharesMessage]),
    workerIds: () => workers,
  });
  const last = (id: number) => inbox.get(id)?.at(-1);
  const shareOf = (id: number, policy: string, key: string) => {
    const p = last(id)?.policies.find((x: RateShares) => x.policy === policy);
    const i = p?.keys.indexOf(key) ?? -1;
    return i === -1 ? undefined : p!.shares[i];
  };
  return { coordinator, inbox, last, shareOf, exchange };
}

t.test('shares follow demand and add up to one per key, idle workers included', async (t) => {
  const { coordinator, shareOf } = setup([1, 2, 3]);
  let now = 0;
  for (let tick = 0; tick < 20; tick++) {
    now += 100;
    coordinator.report(1, [{ policy: 'api', keys: ['ip:a'], demand: [30] }], now);
    coordinator.report(2, [{ policy: 'api', keys: ['ip:a', 'ip:b'], demand: [10, 5] }], now);
    await coordinator.tick(now);
  }
  const a = [1, 2, 3].map((w) => shareOf(w, 'api', 'ip:a')!);
  const b = [1, 2, 3].map((w) => shareOf(w, 'api', 'ip:b')!);
  t.ok(Math.abs(a[0]! + a[1]! + a[2]! - 1) < 1e-9, `ip:a shares add up to 1 (${a.join(', ')})`);
  t.ok(Math.abs(b[0]! + b[1]! + b[2]! - 1) < 1e-9, `ip:b shares add up to 1 (${b.join(', ')})`);
  t.ok(Math.abs(a[0]! / a[1]! - 3) < 0.1, 'ip:a: 30 vs 10 requests per tick gives 3:1');
  t.ok(a[2]! > 0 && a[2]! < 0.01, `worker 3 sees no ip:a traffic: a sliver (${a[2]})`);
  t.ok(b[1]! > 0.98, `ip:b only on worker 2: nearly all of it (${b[1]})`);
});

t.test("the instance's part across instances scales the shares; the default share counts workers and instances", async (t) => {
  const exchange = new FixedExchange(0.4, 2);
  const { coordinator, shareOf, last } = setup([1, 2], exchange);
  for (let now = 100; now <= 1000; now += 100) {
    coordinator.report(1, [{ policy: 'api', keys: ['ip:a'], demand: [20] }], now);
    coordinator.report(2, [{ policy: 'api', keys: ['ip:a'], demand: [20] }], now);
    await coordinator.tick(now);
  }
  const shares = [shareOf(1, 'api', 'ip:a')!, shareOf(2, 'api', 'ip:a')!];
  t.ok(Math.abs(shares[0]! + shares[1]! - 0.4) < 1e-9, `the workers split this instance's 0.4 (${shares.join(', ')})`);
  t.equal(last(1)!.defaultShare, 1 / 4, '2 workers × 2 instances');
  const told = exchange.seen.at(-1)!;
  t.equal(told.length, 1);
  t.match(told[0], { policy: 'api', key: 'ip:a' });
  t.ok(Math.abs(told[0]!.demand - 400) < 20, `the exchange gets requests per second on this instance (${told[0]!.demand})`);
});

t.test('a key nobody reports expires after about a second; an idle cluster sends nothing', async (t) => {
  const { coordinator, inbox, shareOf } = setup([1, 2]);
  coordinator.report(1, [{ policy: 'api', keys: ['ip:a'], demand: [50] }], 100);
  await coordinator.tick(100);
  t.ok(shareOf(1, 'api', 'ip:a')! > 0.9);
  let lastWithKey = 100;
  for (let now = 200; now <= 3000; now += 100) {
    const before = inbox.get(1)!.length;
    await coordinator.tick(now);
    if (inbox.get(1)!.length > before && shareOf(1, 'api', 'ip:a') !== undefined) lastWithKey = now;
  }
  t.ok(lastWithKey >= 1000 && lastWithKey <= 1200, `ip:a last sent at ${lastWithKey} ms, about 1 s after its last report (workers then expire it too)`);
  t.ok(inbox.get(1)!.length <= 12, `nothing active, default unchanged: no messages after that (${inbox.get(1)!.length} in all)`);
});

t.test('a worker that stops serving no longer takes part; the default share follows the worker count', async (t) => {
  const workers = [1, 2];
  const { coordinator, last, shareOf } = setup(workers);
  coordinator.report(1, [{ policy: 'api', keys: ['ip:a'], demand: [10] }], 100);
  coordinator.report(2, [{ policy: 'api', keys: ['ip:a'], demand: [10] }], 100);
  await coordinator.tick(100);
  t.equal(last(1)!.defaultShare, 0.5);
  workers.pop();
  coordinator.report(1, [{ policy: 'api', keys: ['ip:a'], demand: [10] }], 200);
  await coordinator.tick(200);
  t.equal(last(1)!.defaultShare, 1);
  t.ok(Math.abs(shareOf(1, 'api', 'ip:a')! - 1) < 1e-9, 'the only worker left holds the whole rate');
});
