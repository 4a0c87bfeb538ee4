/**
 * The access log (one JSON line per request on stdout, when `server.accessLog.mode` is `all`)
 * and the admin API's log level switch.
 */
import t from 'tap';
import { request } from 'node:http';
import { closedPort, startUpstream } from '../helpers/upstream.js';
import { startVeloflux } from '../helpers/veloflux.js';
import { waitFor } from '../helpers/processes.js';

function send(port: number, path: string, method = 'GET', body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

t.test('one line per request with id, route, backend, status, bytes, client and who ended it', async (t) => {
  const upstream = await startUpstream((req, res) => {
    req.resume();
    req.on('end', () => res.end('0123456789'));
  });
  const dead = await closedPort();
  const vf = await startVeloflux(
    {
      server: { accessLog: { mode: 'all' } },
      pools: [
        { name: 'web', backends: [{ id: 'u1', url: upstream.url }] },
        { name: 'dead', retries: 0, backends: [{ id: 'gone', url: `http://127.0.0.1:${dead}` }] },
      ],
      routes: [{ path: '/', pool: 'web' }, { path: '/dead/', pool: 'dead' }],
    },
    { workers: 2 },
  );
  t.teardown(async () => {
    await vf.stop();
    await upstream.close();
  });
  t.equal(await send(vf.port, '/page'), 200);
  t.equal(await send(vf.port, '/upload', 'POST', 'x'.repeat(1234)), 200);
  t.equal(await send(vf.port, '/dead/x'), 502);
  const access = () => vf.logs().filter((l) => l.type === 'access');
  await waitFor(() => access().length >= 3, 5000, 'three access lines (written asynchronously)');
  const byPath = (method: string, status: number) => access().find((l) => l.method === method && l.status === status)!;
  t.match(byPath('GET', 200), { route: '*/', pool: 'web', backend: 'u1', bytesOut: 10, bytesIn: 0, client: '127.0.0.1', termination: 'complete' });
  t.match(byPath('GET', 200).requestId, /^[0-9a-f-]{36}$/);
  t.match(byPath('POST', 200), { bytesIn: 1234, bytesOut: 10, termination: 'complete' });
  t.match(byPath('GET', 502), { pool: 'dead', backend: 'gone', termination: 'upstream' });
  t.type(byPath('GET', 200).durationMs, 'number');
  t.equal(access().length, 3, 'exactly one line per request');
});

t.test('off by default; the log level is changed through the admin API', async (t) => {
  const upstream = await startUpstream();
  const vf = await startVeloflux({ pools: [{ name: 'web', backends: [{ id: 'u1', url: upstream.url }] }], routes: [{ path: '/', pool: 'web' }] }, { workers: 1 });
  t.teardown(async () => {
    await vf.stop();
    await upstream.close();
  });
  t.equal(await send(vf.port, '/'), 200);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(vf.logs().filter((l) => l.type === 'access').length, 0, 'no access log unless configured');

  const bad = await vf.admin('/admin/log-level', { method: 'PUT', body: JSON.stringify({ level: 'loud' }) });
  t.equal(bad.status, 400);
  t.match(await bad.json(), { error: { code: 'VF_ERR_VALIDATION' } });
  const quiet = await vf.admin('/admin/log-level', { method: 'PUT', body: JSON.stringify({ level: 'error' }) });
  t.same(await quiet.json(), { level: 'error', previous: 'info' });
  // At level error, the primary's info lines (an applied change's audit line) are no longer written.
  const before = vf.logs().length;
  t.equal((await vf.admin('/admin/reload', { method: 'POST' })).status, 200);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(vf.logs().length, before, 'nothing below error is logged');
  const audit = (await (await vf.admin('/admin/audit?limit=5')).json()) as { entries: { action: string; target?: string }[] };
  t.ok(audit.entries.some((e) => e.action === 'log.level' && e.target === 'error'), 'the change is audited');
});
