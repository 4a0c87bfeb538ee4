// Starting and stopping each benchmark target; all of them forward to the same origin.
import { request } from 'node:http';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Child, ChildRegistry } from './children.js';
import { findNginx, writeNginxConfig } from './nginx.js';
import type { Mode, TargetName } from './options.js';
import { findVelofluxCli, writeVelofluxConfig } from './veloflux.js';

const READY_TIMEOUT_MS = 15_000;
const READY_POLL_MS = 100;

export interface TargetContext {
  readonly children: ChildRegistry;
  readonly projectRoot: string;
  readonly tmpDir: string;
  readonly originUrl: string;
  readonly originPort: number;
  readonly mode: Mode;
  /** CPU the proxy under test is pinned to in per-core mode. */
  readonly proxyCpu: number | undefined;
  /** A path the origin answers 200 on, used to check a target forwards before measuring. */
  readonly probePath: string;
}

export interface RunningTarget {
  readonly name: TargetName;
  /** Base URL (no trailing slash) that the load generator sends requests to. */
  readonly url: string;
  /**
   * Process group of the target's own processes (nginx master + workers, VeloFlux primary +
   * workers, ...), whose CPU time is the figure we track; undefined for `direct`.
   */
  readonly processGroup: number | undefined;
  /** How many processes serve requests (workers), for the table. */
  readonly processes: number;
  stop(): Promise<void>;
}

/**
 * Why an optional comparison target is left out of this run (nginx not installed), or undefined.
 * VeloFlux is never skipped: a missing build fails its rows with the reason instead.
 */
export function skipReason(name: TargetName): string | undefined {
  if (name === 'nginx' && findNginx() === undefined) return 'nginx binary not found (apt-get install -y nginx)';
  return undefined;
}

export async function startTarget(name: TargetName, ctx: TargetContext): Promise<RunningTarget> {
  switch (name) {
    case 'direct':
      return { name, url: ctx.originUrl, processGroup: undefined, processes: 0, stop: async () => {} };
    case 'veloflux':
      return startVeloflux(ctx, name, {});
    case 'veloflux-rl':
      return startVeloflux(ctx, name, { rateLimit: true });
    case 'veloflux-sec':
      return startVeloflux(ctx, name, { security: true });
    case 'veloflux-tenant':
      return startVeloflux(ctx, name, { tenant: true });
    case 'nginx':
      return startNginx(ctx);
    case 'fastify':
      return startNodeProxy(ctx, name, 'fastify-proxy.js');
    case 'baseline':
      return startNodeProxy(ctx, name, 'baseline-proxy.js');
  }
}

async function startVeloflux(ctx: TargetContext, name: TargetName, features: { rateLimit?: boolean; security?: boolean; tenant?: boolean }): Promise<RunningTarget> {
  const cli = findVelofluxCli(ctx.projectRoot);
  const port = await freePort();
  const config = writeVelofluxConfig({
    dir: join(ctx.tmpDir, name),
    port,
    originPort: ctx.originPort,
    workers: workerCount(ctx),
    ...features,
  });
  // Pinning the primary pins the cluster workers it forks: CPU affinity is inherited.
  const child = ctx.children.spawn({
    name: 'veloflux',
    command: process.execPath,
    args: [cli, '--config', config],
    cpu: ctx.proxyCpu,
    cwd: ctx.projectRoot,
  });
  return running(name, child, `http://127.0.0.1:${port}`, ctx, workerCount(ctx));
}

/** Serving processes per target: 1 in per-core mode, one per core (VeloFlux's `auto`) in all mode. */
function workerCount(ctx: TargetContext): number {
  return ctx.mode === 'per-core' ? 1 : availableParallelism();
}

async function startNginx(ctx: TargetContext): Promise<RunningTarget> {
  const binary = findNginx();
  if (binary === undefined) throw new Error('nginx binary not found');
  const port = await freePort();
  const files = writeNginxConfig({
    dir: join(ctx.tmpDir, 'nginx'),
    port,
    originPort: ctx.originPort,
    workers: workerCount(ctx),
  });
  const child = ctx.children.spawn({ name: 'nginx', command: binary, args: files.args, cpu: ctx.proxyCpu });
  return running('nginx', child, `http://127.0.0.1:${port}`, ctx, workerCount(ctx));
}

/**
 * fastify and baseline are single-process Node servers; in all mode they run under node:cluster
 * (bench/cluster.ts) with as many workers as VeloFlux, so no row is one process against many.
 */
async function startNodeProxy(ctx: TargetContext, name: TargetName, script: string): Promise<RunningTarget> {
  const workers = workerCount(ctx);
  const scriptArgs = [join(ctx.projectRoot, 'dist', 'bench', script), '--upstream', ctx.originUrl];
  const child = ctx.children.spawn({
    name,
    command: process.execPath,
    args: workers === 1 ? scriptArgs : [join(ctx.projectRoot, 'dist', 'bench', 'cluster.js'), '--workers', String(workers), '--', ...scriptArgs],
    cpu: ctx.proxyCpu,
  });
  const port = await child.waitForJsonLine((m) => (typeof m['port'] === 'number' ? m['port'] : undefined), READY_TIMEOUT_MS);
  return running(name, child, `http://127.0.0.1:${port}`, ctx, workers);
}

async function running(name: TargetName, child: Child, url: string, ctx: TargetContext, processes: number): Promise<RunningTarget> {
  try {
    await waitUntilForwarding(child, url + ctx.probePath);
  } catch (err) {
    await ctx.children.stop(child);
    throw err;
  }
  // Children are spawned detached (children.ts): their pid is their process group's id.
  return { name, url, processGroup: child.pid, processes, stop: () => ctx.children.stop(child) };
}

/** Polls until a request through the target reaches the origin and comes back 200. */
async function waitUntilForwarding(child: Child, url: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (child.hasExited) throw child.failure(`exited before serving ${url}`);
    const status = await probe(url);
    if (status === 200) return;
    last = typeof status === 'number' ? `HTTP ${status}` : status;
    await new Promise((r) => setTimeout(r, READY_POLL_MS));
  }
  throw child.failure(`did not serve ${url} within ${READY_TIMEOUT_MS / 1000} s (last: ${last})`);
}

function probe(url: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', (err) => resolve(err.message));
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', (err) => resolve(err.message));
    req.end();
  });
}

/** A port nothing listens on right now (bind 0, read it, release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address === null || typeof address === 'string') reject(new Error('no TCP address'));
        else resolve(address.port);
      });
    });
  });
}
