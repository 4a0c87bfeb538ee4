/**
 * Passive outlier detection end to end: a backend answering 5xx is ejected after the configured
 * run of failures (traffic then goes only to the healthy one), and readmitted after the ejection
 * time; the admin metrics show it.
 */
import t from 'tap';
import { startUpstream } from '../helpers/upstream.js';
import { startVeloflux } from '../helpers/veloflux.js';
import { waitFor } from '../helpers/processes.js';

t.test('a backend failing in a row is ejected, then readmitted', async (t) => {
  const good = await startUpstream();
  let failing = true;
  const flaky = await startUpstream((req, res) => {
    req.resume();
    req.on('end', () => {
      res.statusCode = failing ? 500 : 200;
      res.end(failing ? 'broken' : 'fine');
    });
  });
  const vf = await startVeloflux(
    {
      pools: [
        {
          name: 'web',
          retries: 0,
          outlierDetection: { consecutiveFailures: 3, baseEjectionTime: '1500ms', maxEjectionPercent: 50 },
          backends: [
            { id: 'good', url: good.url },
            { id: 'flaky', url: flaky.url },
          ],
        },
      ],
      routes: [{ path: '/', pool: 'web' }],
    },
    { workers: 1 },
  );
  t.teardown(async () => {
    await vf.stop();
    await good.close();
    await flaky.close();
  });

  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await fetch(`${vf.url}/x`)).status);
  t.same(statuses, [200, 500, 200, 500, 200, 500], 'round robin until the third failure');
  await waitFor(() => vf.logs().some((l) => l.msg === 'backend ejected'), 3000, 'the ejection');
  const flakyBefore = flaky.requests.length;
  const during: number[] = [];
  for (let i = 0; i < 10; i++) during.push((await fetch(`${vf.url}/x`)).status);
  t.same(during, Array(10).fill(200), 'while ejected, every request goes to the good backend');
  t.equal(flaky.requests.length, flakyBefore, 'the ejected backend receives nothing');

  const metrics = (await (await vf.admin('/admin/metrics')).json()) as { pools: { backends: { id: string; ejected: boolean; ejectedUntil: string | null }[] }[] };
  const flakyMetrics = metrics.pools[0]!.backends.find((b) => b.id === 'flaky')!;
  t.equal(flakyMetrics.ejected, true);
  t.type(flakyMetrics.ejectedUntil, 'string');

  failing = false;
  await waitFor(() => vf.logs().some((l) => l.msg === 'backend readmitted after ejection'), 4000, 'the readmission');
  await new Promise((r) => setTimeout(r, 100));
  const after = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const res = await fetch(`${vf.url}/x`);
    after.add(`${res.status}`);
    await res.text();
  }
  t.ok(flaky.requests.length > flakyBefore, 'readmitted: the backend receives traffic again');
  t.same([...after], ['200'], 'and, fixed, it answers 200');
});
