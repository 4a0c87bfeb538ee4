/**
 * The path of a log line to GET /api/admin/logs, without the primary's main.ts: a real worker
 * (dist/, forked by the compiled Supervisor) writes a line to stdout and its forwarder sends the
 * same bytes up as `log-lines`, which land in a RecentLogs ring; the primary's own lines reach
 * the ring through the log tap with stdout untouched; a worker's forwarder caps what it sends.
 */
import t from 'tap';
import cluster from 'node:cluster';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { validateConfig } from '../../src/shared/config/load.js';
import { RecentLogs } from '../../src/primary/recent-logs.js';
import { LogTap } from '../../src/shared/log-tap.js';
import { LogForwarder } from '../../src/workers/primary-link/log-forwarder.js';
import type { WorkerMessage } from '../../src/shared/ipc.js';
import { waitFor } from '../helpers/processes.js';

// The compiled Supervisor forks the compiled worker next to it (npm run build first).
const { Supervisor } = (await import(new URL('../../dist/src/primary/supervisor.js', import.meta.url).href)) as typeof import('../../src/primary/supervisor.js');
const { clusterWorkers } = (await import(new URL('../../dist/src/primary/worker-process.js', import.meta.url).href)) as typeof import('../../src/primary/worker-process.js');

t.test("a worker's log line reaches the primary's ring with the bytes it wrote to stdout", async (t) => {
  // The "refused" pool names a CA file that passes validation and is then deleted: the worker
  // cannot build that snapshot and logs why at error level (host.ts).
  const dir = mkdtempSync(join(tmpdir(), 'vf-logs-'));
  const caFile = join(dir, 'ca.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'ca.key'), '-out', caFile, '-days', '2', '-subj', '/CN=test-ca'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = (pools: string[]) =>
    validateConfig(
      {
        server: { workers: 1, http: { port: 0, host: '127.0.0.1' }, api: { port: 0, host: '127.0.0.1' } },
        pools: pools.map((name) => ({ name, backends: [{ id: `${name}-1`, url: 'http://127.0.0.1:9' }], ...(name === 'refused' ? { tls: { ca: caFile } } : {}) })),
        routes: [{ path: '/', pool: pools[0]! }],
      },
      'test',
      {},
    );
  const snapshot = (version: number, pools: string[]) => ({ version, config: config(pools), stickySecret: 's'.repeat(32), apiSecrets: { jwtSecret: 'j'.repeat(32) } });
  const recentLogs = new RecentLogs();
  const forwarded: string[] = [];
  let ready!: () => void;
  const allReady = new Promise<void>((resolve) => (ready = resolve));
  const supervisor = new Supervisor(snapshot(1, ['web']) as never, pino({ level: 'silent' }), { workers: clusterWorkers() });
  const events = {
    onAllReady: () => ready(),
    onFatal: (message) => t.fail(message),
    onOutlier: () => {},
    onLogLines: (_workerId, lines, dropped) => {
      forwarded.push(...lines);
      recentLogs.addBatch(lines, dropped);
    },
  };
  // Pipe the worker's stdout here instead of into the TAP stream (the settings merge).
  cluster.setupPrimary({ silent: true });
  let stdout = '';
  cluster.on('fork', (worker) => worker.process.stdout?.on('data', (chunk: Buffer) => (stdout += chunk)));
  supervisor.start(events);
  t.teardown(() => supervisor.shutdown(2000));
  await allReady;

  const refused = snapshot(supervisor.nextVersion(), ['web', 'refused']);
  rmSync(caFile);
  await t.rejects(supervisor.apply(refused as never), { code: 'VF_ERR_APPLY_FAILED' });
  const refusal = () => recentLogs.query({ level: 'error' }).lines.find((l) => l.msg === 'could not build runtime');
  await waitFor(() => refusal() !== undefined, 3000, 'the worker line in the ring');
  t.match(refusal(), { level: 50, role: 'worker', worker: 1, configVersion: 2, err: { message: `pools "refused" tls.ca: cannot read "${caFile}": ENOENT` } });

  const raw = forwarded.find((l) => l.includes('could not build runtime'))!;
  await waitFor(() => stdout.includes(raw), 3000, 'the same line on the worker stdout');
  t.ok(stdout.split('\n').includes(raw), 'forwarded byte for byte as written to stdout (one line, no newline)');
  t.equal(recentLogs.query().dropped, 0);
});

t.test("the primary's own lines: stdout gets every line unchanged, the ring those at info and above", async (t) => {
  const written: string[] = [];
  const tap = new LogTap(() => ({ write: (line: string) => void written.push(line) }));
  const log = pino({ level: 'debug', base: { role: 'primary', pid: 1 } }, tap);
  const recentLogs = new RecentLogs();
  log.info('before the sink');
  tap.attach(recentLogs.sink);
  log.debug('debug line');
  log.info({ configVersion: 3 }, 'info line');
  log.child({ component: 'admin' }).warn('warn line from a child logger');
  tap.detach();
  log.error('after detach');

  t.equal(written.length, 5, 'stdout got every line');
  t.ok(written.every((l) => l.endsWith('}\n')), 'whole JSON lines, newline-terminated as pino writes them');
  t.same(recentLogs.query({ level: 'trace' }).lines.map((l) => l.msg), ['info line', 'warn line from a child logger'], 'only while attached, only info and above');
  t.match(recentLogs.query().lines[0], { level: 30, role: 'primary', configVersion: 3 });
  t.equal(JSON.stringify(recentLogs.query().lines[0]) + '\n', written[2], 'the same JSON the stdout line carries');

  const throwing = new LogTap(() => ({ write: (line: string) => void written.push(line) }));
  throwing.attach(() => {
    throw new Error('sink broke');
  });
  pino({ level: 'info' }, throwing).info('still written');
  t.match(written.at(-1), /"msg":"still written"/, 'a failing sink never loses the stdout line or throws at the caller');
});

t.test("a worker's forwarder sends at most 200 lines per 250 ms batch and counts the rest", async (t) => {
  const sent: Extract<WorkerMessage, { type: 'log-lines' }>[] = [];
  const forwarder = new LogForwarder((message) => void (message.type === 'log-lines' && sent.push(message)));
  for (let i = 0; i < 250; i++) forwarder.push(`{"level":30,"msg":"line ${i}"}`);
  t.equal(sent.length, 0, 'batched, not sent per line');
  await new Promise((r) => setTimeout(r, 300));
  t.equal(sent.length, 1);
  t.equal(sent[0]!.lines.length, 200);
  t.equal(sent[0]!.lines[199], '{"level":30,"msg":"line 199"}', 'the first 200 in order');
  t.equal(sent[0]!.dropped, 50);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(sent.length, 1, 'nothing is sent while quiet');
  forwarder.push('{"level":40,"msg":"on shutdown"}');
  forwarder.flush();
  t.same(sent[1], { v: sent[1]!.v, type: 'log-lines', lines: ['{"level":40,"msg":"on shutdown"}'], dropped: 0 }, 'flush() sends what waits at once');
});
