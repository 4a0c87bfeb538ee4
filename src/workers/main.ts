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

function buildRuntime(snapshot: ConfigSnapshot): Runtime {
  if (REJECT_POOL_FOR_TESTS !== undefined && cluster.worker?.id === 1 && snapshot.config.pools.some((p) => p.name === REJECT_POOL_FOR_TESTS)) {
    throw new Error(`refusing pool "${REJECT_POOL_FOR_TESTS}" (VELOFLUX_TEST_REJECT_POOL)`);
  }
  return new Runtime(snapshot, registry);
}

function applySnapshot(snapshot: ConfigSnapshot): void {
  let runtime: Runtime;
  try {
    runtime = buildRuntime(snapshot);
  } catch (err) {
    log.error({ err, configVersion: snapshot.version }, 'could not build runtime');
    send(workerMessage({ type: 'snapshot-failed', configVersion: snapshot.version, reason: (err as Error).message }));
    return;
  }
  if (handler !== undefined) {
    handler.swap(runtime);
    send(workerMessage({ type: 'snapshot-applied', configVersion: snapshot.version }));
    return;
  }
  startServing(snapshot, runtime);
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
  const done = () => void registry.closeAll().finally(() => process.exit(0));
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
    case 'shutdown':
      return shutdown(msg.deadlineMs);
  }
});

send(workerMessage({ type: 'hello' }));

// The primary owns signals; a worker only stops when told (or when the primary is gone).
process.on('SIGINT', () => {});
process.on('SIGTERM', () => shutdown(0));
process.on('disconnect', () => shutdown(0));
