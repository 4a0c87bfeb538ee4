/**
 * Worker entry: waits for a config snapshot from the primary, builds the runtime, then serves
 * the data plane. Later snapshots build a new runtime that is swapped in whole; in-flight
 * requests finish on the one they started with.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import cluster from 'node:cluster';
import { isVelofluxMessage, workerMessage, type ConfigSnapshot, type PrimaryMessage, type WorkerMessage } from '../shared/ipc.js';
import { createLogger } from '../shared/log.js';
import { listenErrorMessage } from '../shared/listen-errors.js';
import { BackendRegistry } from './backend-registry.js';
import { createHttpEngine } from './http-engine.js';
import { ProxyHandler } from './proxy-handler.js';
import { Runtime } from './runtime.js';
import { StatsReporter } from './stats-reporter.js';

const log = createLogger('worker', { worker: cluster.worker?.id });
const registry = new BackendRegistry();
/** Active health check results from the primary, by backend id; every runtime starts from them. */
const health = new Map<string, boolean>();
let handler: ProxyHandler | undefined;
let server: Server | undefined;
let shuttingDown = false;

function send(message: WorkerMessage): void {
  process.send?.(message);
}

/**
 * Test hook, off unless the variable is set: the first worker refuses any snapshot that has a
 * pool with this name, so tests can prove a change that one worker cannot apply is rolled back
 * on all of them.
 */
const REJECT_POOL_FOR_TESTS = process.env.VELOFLUX_TEST_REJECT_POOL;

/** Observations flow up on their own message; the primary decides whether to eject. */
function reportOutlier(backendId: string, consecutiveFailures: number): void {
  send(workerMessage({ type: 'outlier', backendId, consecutiveFailures }));
}

function buildRuntime(snapshot: ConfigSnapshot): Runtime {
  if (REJECT_POOL_FOR_TESTS !== undefined && cluster.worker?.id === 1 && snapshot.config.pools.some((p) => p.name === REJECT_POOL_FOR_TESTS)) {
    throw new Error(`refusing pool "${REJECT_POOL_FOR_TESTS}" (VELOFLUX_TEST_REJECT_POOL)`);
  }
  return new Runtime(snapshot, registry, health, reportOutlier);
}

/** Builds a runtime, or reports why it could not and returns undefined. */
function tryBuild(snapshot: ConfigSnapshot): Runtime | undefined {
  try {
    return buildRuntime(snapshot);
  } catch (err) {
    log.error({ err, configVersion: snapshot.version }, 'could not build runtime');
    send(workerMessage({ type: 'snapshot-failed', configVersion: snapshot.version, reason: (err as Error).message }));
    return undefined;
  }
}

function swapIn(runtime: Runtime): void {
  // Results that arrived while this runtime waited for its commit.
  runtime.applyHealth(health);
  handler!.swap(runtime);
  runtime.activate(registry);
  send(workerMessage({ type: 'snapshot-applied', configVersion: runtime.version }));
}

function applySnapshot(snapshot: ConfigSnapshot): void {
  const runtime = tryBuild(snapshot);
  if (runtime === undefined) return;
  if (handler !== undefined) return swapIn(runtime);
  runtime.activate(registry);
  startServing(snapshot, runtime);
}

const EXIT_GRACE_MS = 500;

/** A runtime built on `prepare`, waiting for the primary's commit or abort. */
let prepared: Runtime | undefined;

function prepare(snapshot: ConfigSnapshot): void {
  prepared = undefined;
  const runtime = tryBuild(snapshot);
  if (runtime === undefined) return;
  prepared = runtime;
  send(workerMessage({ type: 'prepared', configVersion: snapshot.version }));
}

function commit(version: number): void {
  const runtime = prepared;
  prepared = undefined;
  if (runtime === undefined || runtime.version !== version || handler === undefined) {
    send(workerMessage({ type: 'snapshot-failed', configVersion: version, reason: 'nothing prepared for this version' }));
    return;
  }
  swapIn(runtime);
}

function startServing(snapshot: ConfigSnapshot, runtime: Runtime): void {
  const { http } = snapshot.config.server;
  handler = new ProxyHandler(runtime);
  server = createHttpEngine(snapshot.config.server, handler.handle, handler.handleUpgrade);
  server.once('error', (err: Error & { code?: string }) => {
    send(workerMessage({ type: 'fatal', code: err.code ?? 'UNKNOWN', message: listenErrorMessage(err, 'server.http.port', http.port, 'VELOFLUX_HTTP_PORT') }));
    process.exit(1);
  });
  new StatsReporter(server, handler, (stats) => send(workerMessage({ type: 'stats', stats })));
  server.listen({ port: http.port, host: http.host }, () => {
    const { port } = server!.address() as AddressInfo;
    send(workerMessage({ type: 'ready', configVersion: snapshot.version, httpPort: port }));
  });
}

function shutdown(deadlineMs: number): void {
  if (shuttingDown) return;
  shuttingDown = true;
  handler?.drain();
  // In round-robin scheduling the primary may have handed this worker a connection just before
  // it saw the listener close; the worker refuses it (and the primary passes it on) only while
  // alive. A short grace before exiting keeps such a connection from being left unanswered.
  const done = () => void registry.closeAll().finally(() => setTimeout(() => process.exit(0), EXIT_GRACE_MS));
  if (server === undefined) return done();
  // Stop accepting; idle keep-alive connections close now, busy ones after their response.
  server.close(done);
  server.closeIdleConnections();
  setTimeout(() => {
    log.warn({ deadlineMs }, 'shutdown deadline passed; closing remaining connections');
    server?.closeAllConnections();
    done();
  }, deadlineMs).unref();
}

process.on('message', (message: unknown) => {
  if (!isVelofluxMessage(message)) return;
  const msg = message as PrimaryMessage;
  switch (msg.type) {
    case 'snapshot':
      return applySnapshot(msg.snapshot);
    case 'prepare':
      return prepare(msg.snapshot);
    case 'commit':
      return commit(msg.configVersion);
    case 'abort':
      if (prepared?.version === msg.configVersion) prepared = undefined;
      return;
    case 'health':
      health.clear();
      for (const [id, healthy] of Object.entries(msg.healthy)) health.set(id, healthy);
      handler?.runtime.applyHealth(health);
      return;
    case 'shutdown':
      return shutdown(msg.deadlineMs);
  }
});

send(workerMessage({ type: 'hello' }));

// The primary owns signals; a worker only stops when told (or when the primary is gone).
process.on('SIGINT', () => {});
process.on('SIGTERM', () => shutdown(0));
process.on('disconnect', () => shutdown(0));
