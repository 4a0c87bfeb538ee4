/**
 * Sentinel follows a planned failover (issue 13, item 2): master + replica + 3 sentinels (quorum
 * 2) on free ports; after `SENTINEL failover` a change acknowledged by one instance is in force
 * on every instance. Needs `redis-server` and `redis-sentinel` (.ci/run installs both).
 *
 * It passes with failoverDetector off too: the demoted master drops its clients, so ioredis asks
 * the sentinels again anyway. It guards the behaviour, not the option (redis-connection.test.ts).
 */
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startVeloflux, type RunningVeloflux } from '../helpers/veloflux.js';
import { closedPort as freePort, startUpstream } from '../helpers/upstream.js';

const cli = (port: number, ...args: string[]) => spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout.trim();

async function until(what: string, timeoutMs: number, probe: () => boolean | Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (!(await probe())) {
    if (performance.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return performance.now() - started;
}

t.test('after SENTINEL failover, a change acknowledged through one instance is in force on every instance', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'veloflux-sentinel-'));
  const children: ChildProcess[] = [];
  t.teardown(() => children.forEach((c) => c.kill('SIGKILL')));
  const run = (command: string, args: string[]) => children.push(spawn(command, args, { stdio: 'ignore', cwd: dir }));
  const [master, replica] = [await freePort(), await freePort()];
  run('redis-server', ['--port', String(master), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  run('redis-server', ['--port', String(replica), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--replicaof', '127.0.0.1', String(master)]);
  await until('the replica syncs', 10_000, () => cli(replica, 'INFO', 'replication').includes('master_link_status:up'));
  const sentinels: number[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const file = join(dir, `sentinel-${i}.conf`);
    writeFileSync(file, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor mymaster 127.0.0.1 ${master} 2`, 'sentinel down-after-milliseconds mymaster 1000', 'sentinel failover-timeout mymaster 5000', ''].join('\n'));
    run('redis-sentinel', [file]);
    sentinels.push(port);
  }
  await until('the sentinels know the replica', 20_000, () => sentinels.every((p) => cli(p, 'SENTINEL', 'replicas', 'mymaster').includes(String(replica))));

  const upstream = await startUpstream((_req, res) => res.end('ok'));
  t.teardown(() => upstream.close());
  const config = {
    server: { redis: { sentinels: sentinels.map((port) => ({ host: '127.0.0.1', port })), name: 'mymaster', keyPrefix: 'vf-sentinel:', commandTimeout: '500ms' } },
    pools: [{ name: 'web', backends: [{ id: 'a', url: upstream.url }, { id: 'b', url: upstream.url }] }],
    routes: [{ path: '/', pool: 'web' }],
  };
  const instances: RunningVeloflux[] = [await startVeloflux(config), await startVeloflux(config)];
  t.teardown(() => Promise.all(instances.map((vf) => vf.process.exitCode === null && vf.stop())));

  const failoverStarted = performance.now();
  t.equal(cli(sentinels[0]!, 'SENTINEL', 'failover', 'mymaster'), 'OK');
  await until('the sentinels name the replica as master', 20_000, () => cli(sentinels[0]!, 'SENTINEL', 'get-master-addr-by-name', 'mymaster').includes(String(replica)));
  await until('the old master is a replica', 20_000, () => cli(master, 'ROLE').startsWith('slave'));
  const switched = performance.now() - failoverStarted;

  // A change acknowledged after the switch: retried while VeloFlux reconnects (a 503 changes nothing).
  let status = 0;
  const acknowledged = await until('a drain is acknowledged', 10_000, async () => {
    status = (await instances[0]!.admin('/admin/backends/a/drain', { method: 'POST' })).status;
    return status === 200;
  });
  t.equal(status, 200, `acknowledged ${acknowledged.toFixed(0)} ms after the switch (${switched.toFixed(0)} ms)`);
  t.match(cli(replica, 'KEYS', 'vf-sentinel:*'), /vf-sentinel:/, 'written to the new master');
  for (const [i, vf] of instances.entries()) {
    const followed = await until(`instance ${i} serves the drain`, 5000, async () => {
      const body = (await (await vf.admin('/admin/config')).json()) as { pools: { backends: { id: string; drain?: boolean }[] }[] };
      return body.pools[0]!.backends.find((b) => b.id === 'a')?.drain === true;
    });
    t.pass(`instance ${i} serves it ${followed.toFixed(0)} ms after the answer`);
  }
});
