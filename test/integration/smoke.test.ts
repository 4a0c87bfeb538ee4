import t from 'tap';
import { startUpstream } from '../helpers/upstream.js';
import { startVeloflux } from '../helpers/veloflux.js';

t.test('proxies a GET to a real upstream through two workers', async (t) => {
  const upstream = await startUpstream();
  const vf = await startVeloflux(
    { pools: [{ name: 'web', backends: [{ id: 'u1', url: upstream.url }] }], routes: [{ path: '/', pool: 'web' }] },
    { workers: 2 },
  );
  t.teardown(async () => {
    await vf.stop();
    await upstream.close();
  });
  const res = await fetch(`${vf.url}/hello?x=1`);
  t.equal(res.status, 200);
  const body = (await res.json()) as { url: string; method: string };
  t.equal(body.url, '/hello?x=1');
  t.equal(body.method, 'GET');
  t.equal(upstream.requests.length, 1);
});
