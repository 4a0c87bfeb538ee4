/**
 * Several VeloFlux instances sharing one real Redis: a runtime change made through one instance's
 * admin API is routed by the others within a second, the node list follows instances coming and
 * going, and exactly one instance leads, with a successor within the lease time when it dies.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { startRedis } from '../helpers/redis.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { startVeloflux, type RunningVeloflux } from '../helpers/veloflux.js';

interface NodesView {
  nodeId: string;
  leader: string | null;
  isLeader: boolean;
  state: { backend: string; available: boolean };
  nodes: { id: string; address: string; version: string; started: string; lastSeen: string; self: boolean }[];
}

const named = (name: string) => startUpstream((_req, res) => res.end(name));

async function nodesOf(vf: RunningVeloflux): Promise<NodesView> {
  return (await (await vf.admin('/admin/nodes')).json()) as NodesView;
}

/** Which upstream answers each of `n` requests. */
async function answers(vf: RunningVeloflux, n = 8): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await (await fetch(`${vf.url}/`)).text());
  return out;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  for (;;) {
    const value = await probe();
    const ms = performance.now() - started;
    if (value !== undefined) return { value, ms };
    if (ms > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('three instances on one Redis share runtime changes, the node list and one leader', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const upstreams: Upstream[] = [await named('A'), await named('B')];
  t.teardown(() => Promise.all(upstreams.map((u) => u.close())));
  const config = {
    server: { redis: { url: redis.url, keyPrefix: `vf-${randomBytes(3).toString('hex')}:` } },
    pools: [{ name: 'web', backends: [{ id: 'a', url: upstreams[0]!.url }] }],
    routes: [{ path: '/', pool: 'web' }],
  };
  const instances: RunningVeloflux[] = [];
  for (const workers of [2, 1, 1]) instances.push(await startVeloflux(config, { workers }));
  t.teardown(() => Promise.all(instances.map((vf) => vf.process.exitCode === null && vf.stop())));
  const [a, b, c] = instances as [RunningVeloflux, RunningVeloflux, RunningVeloflux];

  const health = (await (await a.admin('/admin/health')).json()) as { status: string; state: { backend: string; available: boolean } };
  t.match(health, { status: 'up', state: { backend: 'redis', available: true } }, '/admin/health shows the state backend');

  const listed = await until('three nodes listed', 5000, async () => {
    const view = await nodesOf(a);
    return view.nodes.length === 3 ? view : undefined;
  });
  const ids = await Promise.all(instances.map(async (vf) => (await nodesOf(vf)).nodeId));
  t.same(listed.value.nodes.map((n) => n.id).sort(), [...ids].sort(), 'A lists all three instances');
  t.same(listed.value.nodes.filter((n) => n.self).map((n) => n.id), [ids[0]], 'and marks itself');
  for (const node of listed.value.nodes) t.match(node, { address: /:\d+$/, version: /^\d+\.\d+\.\d+/, started: /^\d{4}-/, lastSeen: /^\d{4}-/ });

  // A backend added through A's admin API is routed by B and C (and every worker of A).
  const added = await a.admin('/admin/pools/web/backends', { method: 'POST', body: JSON.stringify({ id: 'b', url: upstreams[1]!.url }) });
  t.equal(added.status, 201, 'added through A');
  const addedAt = performance.now();
  for (const [name, vf] of [['B', b], ['C', c]] as const) {
    await until(`instance ${name} routes to the new backend`, 5000, async () => ((await answers(vf, 4)).includes('B') ? true : undefined));
    const ms = performance.now() - addedAt;
    t.ok(ms < 1000, `instance ${name} routes to it ${ms.toFixed(0)} ms after A answered`);
  }
  t.same((await answers(a, 8)).sort(), ['A', 'A', 'A', 'A', 'B', 'B', 'B', 'B'], 'A balances over both');
  const audit = (await (await b.admin('/admin/audit?limit=1')).json()) as { entries: { action: string; outcome: string; actor: { via: string; node?: string } }[] };
  t.match(audit.entries[0], { action: 'config.sync', outcome: 'applied', actor: { via: 'state', node: ids[0] } }, 'B audits the change with its origin');

  // A change through B reaches A and C just the same.
  const drainB = await b.admin('/admin/backends/a/drain', { method: 'POST' });
  t.equal(drainB.status, 200, 'B drains a');
  await until('A follows the drain', 2000, async () => ((await answers(a, 4)).every((x) => x === 'B') ? true : undefined));
  t.same((await (await c.admin('/admin/config')).json()).pools[0].backends.map((x: { id: string; drain?: boolean }) => [x.id, x.drain ?? false]), [['a', true], ['b', false]], 'C shows the same config');

  // Exactly one leader, and the same one seen from everywhere.
  const leaders = await until('one leader', 8000, async () => {
    const views = await Promise.all(instances.map(nodesOf));
    const claiming = views.filter((v) => v.isLeader);
    return claiming.length === 1 && views.every((v) => v.leader === claiming[0]!.nodeId) ? claiming[0]!.nodeId : undefined;
  });
  t.pass(`one leader: ${leaders.value}`);

  // An instance that stops leaves the list at once (it deregisters).
  const leaderIndex = ids.indexOf(leaders.value);
  const stopping = instances.find((_, i) => i !== leaderIndex && i !== 0)!;
  await stopping.stop();
  const afterStop = await until('the stopped instance is gone from the list', 1500, async () => {
    const view = await nodesOf(a);
    return view.nodes.length === 2 ? view : undefined;
  });
  t.notOk(afterStop.value.nodes.some((n) => n.id === ids[instances.indexOf(stopping)]), `gone after ${afterStop.ms.toFixed(0)} ms`);

  // The leader dies without a word (kill -9 of its primary): another takes over within the lease time.
  const leader = instances[leaderIndex]!;
  const survivor = instances.find((vf) => vf !== leader && vf !== stopping)!;
  leader.process.kill('SIGKILL');
  const takeover = await until('a new leader', 9000, async () => {
    const view = await nodesOf(survivor);
    return view.isLeader ? view : undefined;
  });
  // The lease runs out at most 5 s after the leader's last renewal (so at most 5 s after the kill);
  // the survivor tries every 0.5 s; the probe here polls over HTTP.
  t.ok(takeover.ms <= 5000 + 500 + 300, `the survivor leads ${takeover.ms.toFixed(0)} ms after the kill (lease 5 s, attempts every 0.5 s)`);
  const gone = await until('the killed instance leaves the list', 6000, async () => {
    const view = await nodesOf(survivor);
    return view.nodes.length === 1 ? view : undefined;
  });
  t.same(gone.value.nodes.map((n) => n.id), [takeover.value.nodeId], `the dead instance expired from the list after ${gone.ms.toFixed(0)} ms`);
});
