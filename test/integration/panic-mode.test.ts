/**
 * Panic mode: when every backend of a pool fails its health check, a pool with `panicMode`
 * still sends traffic to all of them (as Envoy does) instead of answering 503; drained
 * backends stay out even then. A pool without it answers 503.
 */
import t from 'tap';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { startVeloflux } from '../helpers/veloflux.js';
import { waitFor } from '../helpers/processes.js';

/** Answers its name, but fails /health. */
const failingHealth = (name: string): Promise<Upstream> =>
  startUpstream((req, res) => {
    req.resume();
    req.on('end', () => {
      res.statusCode = req.url === '/health' ? 500 : 200;
      res.end(name);
    });
  });

t.test('all backends unhealthy: panic mode serves from all of them, except drained ones', async (t) => {
  const [a, b, c, d] = await Promise.all(['a', 'b', 'c', 'd'].map(failingHealth));
  const healthCheck = { path: '/health', interval: '200ms', timeout: '100ms' };
  const vf = await startVeloflux(
    {
      pools: [
        { name: 'panicky', panicMode: true, healthCheck, backends: [{ id: 'a', url: a!.url }, { id: 'b', url: b!.url }, { id: 'c', url: c!.url }] },
        { name: 'strict', healthCheck, backends: [{ id: 'd', url: d!.url }] },
      ],
      routes: [
        { path: '/panic', pool: 'panicky' },
        { path: '/strict', pool: 'strict' },
      ],
    },
    { workers: 1 },
  );
  t.teardown(async () => {
    await vf.stop();
    await Promise.all([a, b, c, d].map((u) => u!.close()));
  });
  await waitFor(() => vf.logs().filter((l) => l.msg === 'backend unhealthy').length === 4, 5000, 'every backend to fail its first probe');

  const strict = await fetch(`${vf.url}/strict`);
  t.equal(strict.status, 503, 'without panic mode: 503');
  t.match(await strict.json(), { error: { code: 'VF_ERR_NO_HEALTHY_UPSTREAM' } });

  const served = new Set<string>();
  for (let i = 0; i < 9; i++) {
    const res = await fetch(`${vf.url}/panic`);
    t.equal(res.status, 200);
    served.add(await res.text());
  }
  t.same([...served].sort(), ['a', 'b', 'c'], 'with panic mode: every unhealthy backend takes traffic');

  t.equal((await vf.admin('/admin/backends/c/drain', { method: 'POST' })).status, 200);
  const afterDrain = new Set<string>();
  for (let i = 0; i < 6; i++) afterDrain.add(await (await fetch(`${vf.url}/panic`)).text());
  t.same([...afterDrain].sort(), ['a', 'b'], 'a drained backend stays out even in panic');
});
