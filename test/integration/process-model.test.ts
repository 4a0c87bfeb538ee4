/**
 * The primary/worker process model through the real CLI: config errors and `check`, listen
 * errors, worker crash and respawn under traffic, graceful SIGTERM drain and its deadline.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, startVeloflux, writeConfig } from '../helpers/veloflux.js';
import { startUpstream } from '../helpers/upstream.js';
import { childPids, waitFor } from '../helpers/processes.js';

const pool = (url: string) => ({ pools: [{ name: 'web', backends: [{ id: 'u1', url }] }], routes: [{ path: '/', pool: 'web' }] });

function runCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 15_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** One GET on a fresh connection; resolves with the status, or 0 on a connection error. */
function getOnce(port: number, path = '/'): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

t.test('veloflux check: exit 0 on a valid file, 1 with every problem and its path', async (t) => {
  const good = writeConfig(pool('http://127.0.0.1:8081'));
  const ok = runCli(['check', good]);
  t.equal(ok.code, 0);
  t.match(ok.stdout, /configuration is valid \(1 pool\(s\), 1 route\(s\)\)/);

  const dir = mkdtempSync(join(tmpdir(), 'veloflux-check-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'server:\n  workers: none\npools:\n  - name: web\n    backends: [{ id: a, url: "http://x:1", weigth: 2 }]\nroutes:\n  - { path: /, pool: web }\n  - { path: /api, pool: api }\n');
  const failed = runCli(['check', bad]);
  t.equal(failed.code, 1);
  t.match(failed.stderr, /server\.workers: /);
  t.match(failed.stderr, /pools\[0\]\.backends\[0\]: unknown key\(s\) "weigth"/);
  t.match(failed.stderr, /routes\[1\]\.pool: unknown pool "api"/);
  t.match(failed.stderr, /3 problem\(s\)/);

  const missing = runCli(['check', join(dir, 'nope.yaml')]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /cannot read file/);
});

t.test('an invalid config refuses to start and lists the problems', async (t) => {
  const file = writeConfig({ pools: [], routes: [{ path: '/', pool: 'ghost' }] });
  const r = runCli(['--config', file]);
  t.equal(r.code, 1);
  t.match(r.stderr, /routes\[0\]\.pool: unknown pool "ghost"/);
});

t.test('a taken port fails with a message that says how to fix it', async (t) => {
  const blocker: Server = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => blocker.close());
  const { port } = blocker.address() as AddressInfo;
  const file = writeConfig({ ...pool('http://127.0.0.1:1'), server: { http: { port, host: '127.0.0.1' } } });
  const r = runCli(['--config', file]);
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`cannot listen on port ${port} \\(server\\.http\\.port\\): the port is already in use`));
  t.match(r.stderr, /VELOFLUX_HTTP_PORT/);
});

t.test('a crashed worker is respawned with its cause logged while traffic continues', async (t) => {
  const upstream = await startUpstream();
  const vf = await startVeloflux(pool(upstream.url), { workers: 2 });
  t.teardown(async () => {
    await vf.stop();
    await upstream.close();
  });
  const workers = childPids(vf.process.pid!);
  t.equal(workers.length, 2, 'two workers');

  let failures = 0;
  let sent = 0;
  let stop = false;
  const traffic = (async () => {
    while (!stop) {
      sent++;
      if ((await getOnce(vf.port)) !== 200) failures++;
    }
  })();
  try {
    await new Promise((r) => setTimeout(r, 300));
    process.kill(workers[0]!, 'SIGKILL');
    await waitFor(() => vf.logs().filter((l) => l.msg === 'worker serving').length >= 3, 10_000, 'a replacement worker to serve');
    t.equal(childPids(vf.process.pid!).length, 2, 'two workers again');
    t.notOk(childPids(vf.process.pid!).includes(workers[0]!), 'the killed one is gone');
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    stop = true;
    await traffic;
  }

  const died = vf.logs().find((l) => typeof l.msg === 'string' && l.msg.startsWith('worker died'));
  t.ok(died, 'the death is logged');
  t.equal(died?.signal, 'SIGKILL', 'with the signal that killed it');
  t.ok(sent > 5, `traffic kept flowing (${sent} requests)`);
  // Only a request in flight on the killed worker's connection can fail.
  t.ok(failures <= 1, `${failures} of ${sent} requests failed`);
});

t.test('SIGTERM stops accepting, lets in-flight requests finish, exits 0', async (t) => {
  const upstream = await startUpstream((req, res) => {
    req.resume();
    setTimeout(() => res.end('slow but whole'), 1000);
  });
  const vf = await startVeloflux(pool(upstream.url), { workers: 2 });
  t.teardown(() => upstream.close());

  const inFlight = fetch(`${vf.url}/slow`).then(async (res) => ({ status: res.status, body: await res.text() }));
  await waitFor(() => upstream.requests.length === 1, 5000, 'the request to reach the upstream');
  vf.process.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  t.equal(await getOnce(vf.port), 0, 'new connections are refused while draining');
  t.same(await inFlight, { status: 200, body: 'slow but whole' }, 'the in-flight request completes');
  t.equal(await vf.exited, 0, 'exit code 0');
});

t.test('the shutdown deadline cuts requests that would not finish', async (t) => {
  const upstream = await startUpstream((req) => req.resume()); // never answers
  const vf = await startVeloflux({ ...pool(upstream.url), server: { timeouts: { shutdown: '500ms' } } }, { workers: 1 });
  t.teardown(() => upstream.close());
  const hanging = fetch(`${vf.url}/hang`).then(
    (res) => res.status,
    () => 'cut off',
  );
  await waitFor(() => upstream.requests.length === 1, 5000, 'the request to reach the upstream');
  const started = Date.now();
  vf.process.kill('SIGTERM');
  t.equal(await vf.exited, 0);
  const took = Date.now() - started;
  t.ok(took < 3000, `exited ${took} ms after SIGTERM with a 500 ms deadline`);
  t.equal(await hanging, 'cut off', 'the unfinished request is cut, not answered as if whole');
});
