/**
 * Worker entry: waits for a config snapshot from the primary, builds the runtime, then serves
 * the data plane. Later snapshots build a new runtime that is swapped in whole; in-flight
 * requests finish on the one they started with.
 */
import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import cluster from 'node:cluster';
import { isVelofluxMessage, workerMessage, type ConfigSnapshot, type PrimaryMessage, type WorkerMessage } from '../shared/ipc.js';
import { createLogger } from '../shared/log.js';
import { logTap } from '../shared/log-tap.js';
import { listenErrorMessage } from '../shared/listen-errors.js';
import { BackendRegistry } from './runtime/backend-registry.js';
import { createHttpEngine, createHttpsEngine } from './proxy/http-engine.js';
import { ProxyHandler } from './proxy/proxy-handler.js';
import { Runtime } from './runtime/runtime.js';
import { StatsReporter } from './telemetry/stats-reporter.js';
import { StateReplica } from './primary-link/state-replica.js';
import { PrimaryRpc } from './primary-link/primary-rpc.js';
import { createApiServer, type ApiServer } from './api/api-server.js';
import { FeedRelay } from './api/feed-relay.js';
import { accessLog } from './telemetry/access-log.js';
import { LogForwarder } from './primary-link/log-forwarder.js';
import { CertificateStore } from './runtime/tls-certificates.js';
import { RateLimitRegistry } from './rate-limit/rate-limit-registry.js';

const log = createLogger('worker', { worker: cluster.worker?.id });
/** This worker's log lines also go up to the primary's recent-log ring (GET /api/admin/logs). */
const logForwarder = new LogForwarder((message) => void (process.connected && send(message)));
logTap.attach(logForwarder.push);
const registry = new BackendRegistry();
/** Rate limiters by policy: like the registry, they outlive config swaps. */
const rateLimits = new RateLimitRegistry();
/** Active health check results from the primary, by backend id; every runtime starts from them. */
const health = new Map<string, boolean>();
let handler: ProxyHandler | undefined;
let server: Server | undefined;
let httpsServer: HttpsServer | undefined;
/** The main API (server.api). */
let api: ApiServer | undefined;
/** The certificates new TLS handshakes get; replaced whole when a snapshot is swapped in. */
let certificates: CertificateStore | undefined;
let shuttingDown = false;

/**
 * Everything one snapshot gives the data plane. Certificates are re-read from disk for every
 * snapshot (every reload, PUT or backend change), so renewed files are picked up without a
 * restart, and a missing or broken file fails the build: the change is refused everywhere and
 * the running certificates keep serving.
 */
interface Built {
  readonly runtime: Runtime;
  readonly certificates: CertificateStore | undefined;
}

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

function build(snapshot: ConfigSnapshot): Built {
  if (REJECT_POOL_FOR_TESTS !== undefined && cluster.worker?.id === 1 && snapshot.config.pools.some((p) => p.name === REJECT_POOL_FOR_TESTS)) {
    throw new Error(`refusing pool "${REJECT_POOL_FOR_TESTS}" (VELOFLUX_TEST_REJECT_POOL)`);
  }
  const { https } = snapshot.config.server;
  return {
    certificates: https === undefined ? undefined : CertificateStore.load(https.certificates),
    runtime: new Runtime(snapshot, registry, health, reportOutlier, rateLimits),
  };
}

/** Builds a snapshot, or reports why it could not and returns undefined. */
function tryBuild(snapshot: ConfigSnapshot): Built | undefined {
  try {
    return build(snapshot);
  } catch (err) {
    log.error({ err, configVersion: snapshot.version }, 'could not build runtime');
    const reason = (err as Error).message;
    // One of the first workers cannot build the config VeloFlux starts with (a missing
    // certificate or CA file): say so and stop, rather than never becoming ready. Replacements
    // (respawns, rolling restarts: higher ids) only fail themselves; the others keep serving.
    if (handler === undefined && isInitialWorker(snapshot)) {
      send(workerMessage({ type: 'fatal', code: (err as { code?: string }).code ?? 'VF_ERR_CONFIG_INVALID', message: `cannot start serving: ${reason}` }));
      process.exit(1);
    }
    send(workerMessage({ type: 'snapshot-failed', configVersion: snapshot.version, reason }));
    return undefined;
  }
}

function isInitialWorker(snapshot: ConfigSnapshot): boolean {
  const id = cluster.worker?.id ?? 0;
  return snapshot.version === 1 && typeof snapshot.config.server.workers === 'number' && id <= snapshot.config.server.workers;
}

function swapIn(built: Built): void {
  const { runtime } = built;
  // Results that arrived while this runtime waited for its commit.
  runtime.applyHealth(health);
  handler!.swap(runtime);
  if (built.certificates !== undefined && httpsServer !== undefined) {
    certificates = built.certificates;
    // Clients without SNI get the listener's own context; SNI handshakes read `certificates`.
    httpsServer.setSecureContext(certificates.defaultOptions);
  }
  runtime.activate(registry);
  send(workerMessage({ type: 'snapshot-applied', configVersion: runtime.version }));
}

function applySnapshot(snapshot: ConfigSnapshot): void {
  const built = tryBuild(snapshot);
  if (built === undefined) return;
  if (handler !== undefined) return swapIn(built);
  built.runtime.activate(registry);
  startServing(snapshot, built);
}

const EXIT_GRACE_MS = 500;

/** What `prepare` built, waiting for the primary's commit or abort. */
let prepared: Built | undefined;

function prepare(snapshot: ConfigSnapshot): void {
  prepared = undefined;
  const built = tryBuild(snapshot);
  if (built === undefined) return;
  prepared = built;
  send(workerMessage({ type: 'prepared', configVersion: snapshot.version }));
}

function commit(version: number): void {
  const built = prepared;
  prepared = undefined;
  if (built === undefined || built.runtime.version !== version || handler === undefined) {
    send(workerMessage({ type: 'snapshot-failed', configVersion: version, reason: 'nothing prepared for this version' }));
    return;
  }
  swapIn(built);
}

function startServing(snapshot: ConfigSnapshot, built: Built): void {
  const { http, https } = snapshot.config.server;
  accessLog.configure(snapshot.config.server.accessLog);
  handler = new ProxyHandler(built.runtime);
  server = createHttpEngine(snapshot.config.server, handler.handle, handler.handleUpgrade);
  exitOnListenError(server, 'server.http.port', http.port, 'VELOFLUX_HTTP_PORT');
  new StatsReporter(server, handler, (stats) => send(workerMessage({ type: 'stats', stats })));
  rateLimits.start(snapshot.config.server.workers as number, (usage) => send(workerMessage({ type: 'rate-usage', usage })));
  const listening = [listen(server, http.port, http.host)];
  if (https !== undefined && built.certificates !== undefined) {
    certificates = built.certificates;
    // The configured port until the bound one is known (they differ only for port 0).
    handler.httpsPort = https.port;
    httpsServer = createHttpsEngine(snapshot.config.server, () => certificates!, handler.handle, handler.handleUpgrade);
    exitOnListenError(httpsServer, 'server.https.port', https.port, 'server.https.port');
    listening.push(listen(httpsServer, https.port, https.host));
  }
  const apiListening = startApi(snapshot);
  void Promise.all([Promise.all(listening), apiListening]).then(([[httpPort, httpsPort], apiPort]) => {
    if (httpsPort !== undefined) handler!.httpsPort = httpsPort;
    send(workerMessage({ type: 'ready', configVersion: snapshot.version, httpPort: httpPort!, apiPort, ...(httpsPort !== undefined ? { httpsPort } : {}) }));
  });
}

/** The main API (static settings: built once per worker; routes read the runtime in force). */
async function startApi(snapshot: ConfigSnapshot): Promise<number> {
  const { api: settings } = snapshot.config.server;
  const started = await createApiServer({ config: () => handler!.runtime.config, secrets: snapshot.apiSecrets, state, rpc, feed, log });
  api = started;
  exitOnListenError(started.app.server, 'server.api.port', settings.port, 'VELOFLUX_API_PORT');
  return listen(started.app.server, settings.port, settings.host);
}

function listen(engine: Server | HttpsServer, port: number, host: string): Promise<number> {
  return new Promise((resolve) => engine.listen({ port, host }, () => resolve((engine.address() as AddressInfo).port)));
}

function exitOnListenError(engine: Server | HttpsServer, configPath: string, port: number, envName: string): void {
  engine.once('error', (err: Error & { code?: string }) => {
    send(workerMessage({ type: 'fatal', code: err.code ?? 'UNKNOWN', message: listenErrorMessage(err, configPath, port, envName) }));
    process.exit(1);
  });
}

function shutdown(deadlineMs: number): void {
  if (shuttingDown) return;
  shuttingDown = true;
  handler?.drain();
  rateLimits.stop();
  // In round-robin scheduling the primary may have handed this worker a connection just before
  // it saw the listener close; the worker refuses it (and the primary passes it on) only while
  // alive. A short grace before exiting keeps such a connection from being left unanswered.
  let exiting = false;
  const done = () => {
    if (exiting) return;
    exiting = true;
    void registry.closeAll().finally(() => {
      accessLog.flush();
      logForwarder.flush();
      setTimeout(() => process.exit(0), EXIT_GRACE_MS);
    });
  };
  // Stream clients would hold the API listener open: tell them to go (1001) now.
  api?.close();
  const engines = [server, httpsServer, api?.app.server].filter((engine) => engine !== undefined);
  if (engines.length === 0) return done();
  // Stop accepting; idle keep-alive connections close now, busy ones after their response.
  let open = engines.length;
  for (const engine of engines) {
    engine.close(() => --open === 0 && done());
    engine.closeIdleConnections();
  }
  setTimeout(() => {
    log.warn({ deadlineMs }, 'shutdown deadline passed; closing remaining connections');
    for (const engine of engines) engine.closeAllConnections();
    done();
  }, deadlineMs).unref();
}

/** This worker's view of the state store (the main API reads users and tenants from it). */
const state = new StateReplica(send);
/** Calls to the primary (config changes, logs, alerts) for the main API. */
const rpc = new PrimaryRpc(send);
/** The primary's once-a-second feed for the main API and its streams. */
const feed = new FeedRelay();

process.on('message', (message: unknown) => {
  if (!isVelofluxMessage(message)) return;
  const msg = message as PrimaryMessage;
  if (state.receive(msg)) return;
  switch (msg.type) {
    case 'rpc-reply':
      return rpc.settle(msg.requestId, msg.result, msg.error);
    case 'api-feed':
      return feed.receive(msg.feed);
    case 'snapshot':
      return applySnapshot(msg.snapshot);
    case 'prepare':
      return prepare(msg.snapshot);
    case 'commit':
      return commit(msg.configVersion);
    case 'abort':
      if (prepared?.runtime.version === msg.configVersion) prepared = undefined;
      return;
    case 'log-level':
      log.level = msg.level;
      return;
    case 'health':
      health.clear();
      for (const [id, healthy] of Object.entries(msg.healthy)) health.set(id, healthy);
      handler?.runtime.applyHealth(health);
      return;
    case 'rate-shares':
      return rateLimits.applyShares(msg.defaultShare, msg.policies);
    case 'shutdown':
      return shutdown(msg.deadlineMs);
  }
});

send(workerMessage({ type: 'hello' }));

// The primary owns signals; a worker only stops when told (or when the primary is gone).
process.on('SIGINT', () => {});
process.on('SIGTERM', () => shutdown(0));
process.on('disconnect', () => shutdown(0));
