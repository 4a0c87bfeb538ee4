/**
 * A private redis-server per test, on a free loopback port, with no persistence, that a test can
 * stop and start again on the same port (to simulate an outage). Needs `redis-server` on PATH
 * (.ci/run installs it from apt).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { closedPort as freePort } from './upstream.js';

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Stops the server (SIGKILL: an outage, not a shutdown). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  readonly running: boolean;
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(500);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Starts redis-server; call `stop()` in teardown (also done on process exit). */
export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const launch = async () => {
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<never>((_, reject) => proc.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${stderr}`))));
    exited.catch(() => {});
    const deadline = Date.now() + 10_000;
    while (!(await answersPing(port))) {
      if (proc.exitCode !== null) await exited;
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${port}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const kill = async () => {
    const proc = child;
    child = undefined;
    if (proc === undefined || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
  };
  process.once('exit', () => child?.kill('SIGKILL'));
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: kill,
    start: launch,
    get running() {
      return child !== undefined && child.exitCode === null;
    },
  };
}
