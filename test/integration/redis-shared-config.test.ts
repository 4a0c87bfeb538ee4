/**
 * One dynamic config for hosts that share Redis but each have their own `server` section (issue
 * 13, item 1): a whole-config PUT on A is served by B and C within a second; a drain on B
 * afterwards keeps A's pool and route; every node reports the config it serves in /admin/nodes.
 * A host whose file has other pools serves its own file, shows as out of sync (nodes, metric,
 * log), and its runtime changes do not undo the PUT the others serve.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { startRedis } from '../helpers/redis.js';
import { startUpstream } from '../helpers/upstream.js';
import { startVeloflux, type RunningVeloflux } from '../helpers/veloflux.js';
import { scrape } from '../helpers/metrics.js';

const redis = await startRedis();
const named = (name: string) => startUpstream((_req, res) => res.end(name));
const [one, two, three, other] = await Promise.all([named('one'), named('two'), named('three'), named('other')]);
t.teardown(async () => {
  await Promise.all([one, two, three, other].map((u) => u.close()));
  await redis.stop();
});

const keyPrefix = `vf-${randomBytes(3).toString('hex')}:`;
const dynamic = {
  pools: [{ name: 'web', backends: [{ id: 'one', url: one.url }, { id: 'two', url: two.url }] }],
  routes: [{ path: '/', pool: 'web' }],
};
// Each host its own server section: workers and timeouts differ (ports and dataDir differ anyway).
const host = (workers: number, extra: Record<string, unknown> = {}) => startVeloflux({ server: { redis: { url: redis.url, keyPrefix }, ...extra }, ...dynamic }, { workers });
const a = await host(1);
const b = await host(2, { timeouts: { connect: '2s' } });
const c = await host(1, { timeouts: { response: '30s' } });
t.teardown(() => Promise.all([a, b, c].map((vf) => vf.stop())));

interface NodesView {
  inSync: boolean;
  nodes: { id: string; self: boolean; config?: { version: number; etag: string } }[];
}
const nodesOf = async (vf: RunningVeloflux) => (await (await vf.admin('/admin/nodes')).json()) as NodesView;
const answer = async (vf: RunningVeloflux, path: string) => {
  const res = await fetch(`${vf.url}${path}`, { headers: { connection: 'close' } });
  return `${res.status} ${await res.text()}`;
};

async function within(ms: number, probe: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < ms) {
    if (await probe()) return performance.now() - started;
    await new Promise((r) => setTimeout(r, 20));
  }
  return Infinity;
}

t.test('a PUT on A is served by B and C within a second; a drain on B afterwards keeps it', async (t) => {
  const etag = (await a.admin('/admin/config')).headers.get('etag')!;
  const put = {
    pools: [...dynamic.pools, { name: 'extra', backends: [{ id: 'three', url: three.url }] }],
    routes: [{ path: '/extra/', pool: 'extra' }, ...dynamic.routes],
  };
  const res = await a.admin('/admin/config', { method: 'PUT', body: JSON.stringify(put), headers: { 'if-match': etag } });
  t.equal(res.status, 200, 'PUT on A');
  for (const [name, vf] of [['B', b], ['C', c]] as const) {
    const ms = await within(5000, async () => (await answer(vf, '/extra/x')) === '200 three');
    t.ok(ms < 1000, `${name} serves the new route ${ms.toFixed(0)} ms after A answered`);
  }

  t.equal((await b.admin('/admin/backends/one/drain', { method: 'POST' })).status, 200, 'B drains one');
  const ms = await within(5000, async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, () => answer(a, '/')));
    return answers.every((x) => x === '200 two');
  });
  t.ok(ms < 1000, `A follows the drain in ${ms.toFixed(0)} ms`);
  for (const vf of [a, b, c]) t.equal(await answer(vf, '/extra/y'), '200 three', "and keeps A's pool and route");
});

t.test('every node reports the version and ETag it serves; all in sync', async (t) => {
  const ms = await within(8000, async () => {
    const view = await nodesOf(a);
    return view.nodes.length === 3 && view.inSync && view.nodes.every((n) => n.config?.etag === view.nodes[0]!.config?.etag);
  });
  t.ok(ms < Infinity, 'three nodes, one ETag');
  const view = await nodesOf(c);
  t.equal(view.inSync, true);
  t.equal(new Set(view.nodes.map((n) => n.config!.etag)).size, 1);
  t.equal((await scrape(a)).get('veloflux_config_in_sync'), 1);
});

t.test('a host whose file has other pools serves its file, shows as out of sync, and cannot undo the shared PUT', async (t) => {
  const d = await startVeloflux(
    { server: { redis: { url: redis.url, keyPrefix } }, pools: [{ name: 'web', backends: [{ id: 'other', url: other.url }] }], routes: [{ path: '/', pool: 'web' }] },
    { workers: 1 },
  );
  t.teardown(() => d.stop());
  t.equal(await answer(d, '/'), '200 other', 'D serves its own file');
  const seen = await within(10_000, async () => !(await nodesOf(a)).inSync && (await scrape(a)).get('veloflux_config_in_sync') === 0);
  t.ok(seen < Infinity, `A reports the divergence (nodes and metric) after ${seen.toFixed(0)} ms`);
  const warned = await within(10_000, async () => [a, d].some((vf) => vf.logs().some((l) => l.level === 40 && String(l.msg).includes('serve a different dynamic config'))));
  t.ok(warned < Infinity, 'and logs it as a warning');

  t.equal((await d.admin('/admin/backends/other/weight', { method: 'PUT', body: JSON.stringify({ weight: 2 }) })).status, 200, 'a runtime change on D');
  await new Promise((r) => setTimeout(r, 1000));
  for (const vf of [a, b, c]) t.equal(await answer(vf, '/extra/z'), '200 three', 'the PUT still serves on the others');
});
