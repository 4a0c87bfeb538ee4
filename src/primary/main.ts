/**
 * Primary start-up: load the config (file + persisted runtime changes) and validate it once,
 * fork the workers with the frozen snapshot, serve the admin API, and own the process signals.
 * The primary never proxies traffic.
 */
import { VELOFLUX_VERSION } from '../shared/version.js';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '../shared/log.js';
import { ConfigError } from '../shared/config/load.js';
import type { VelofluxConfig } from '../shared/config/schema.js';
import { listenErrorMessage } from '../shared/listen-errors.js';
import { AuditLog } from './audit-log.js';
import { ConfigController } from './config/config-controller.js';
import { HealthChecker } from './health-checker.js';
import { OutlierDetector } from './outlier-detector.js';
import { Supervisor } from './supervisor.js';
import { clusterWorkers } from './worker-process.js';
import { createAdminServer } from './admin/server.js';
import { resolveAdminToken } from './admin/token.js';
import { resolveStickySecret } from './sticky-secret.js';
import { resolveApiSecrets } from './api-secrets.js';
import { bootstrapAdmin } from '../shared/auth/users.js';
import type { VelofluxError } from '../shared/errors.js';
import { createMetricsServer } from './metrics/server.js';
import { RateLimitCoordinator } from './rate-limit/rate-limit-coordinator.js';
import { EmbeddedDemandExchange } from './rate-limit/embedded-demand-exchange.js';
import { RedisDemandExchange } from './rate-limit/redis-demand-exchange.js';
import { createRedisConnection } from '../shared/state/redis-connection.js';
import { StateFileError } from '../shared/state/embedded-store.js';
import { newNodeId, openStateStore } from './state/state-store.js';
import { StateService } from './state/state-service.js';
import { WorkerRpc } from './worker-rpc.js';
import { ApiFeedBuilder } from './api-feed/feed-builder.js';
import { RecentLogs } from './recent-logs.js';
import { logTap } from '../shared/log-tap.js';
import { primaryMessage } from '../shared/ipc.js';
import { FEED_ALERTS, type ApiFeed } from '../shared/api-feed.js';
import { AlertStore } from './alert-store.js';
import { maintainSessions } from './state/session-maintenance.js';
import { handleBackendCalls } from './api-rpc-handlers.js';
import { identityOf, joinCluster, type ClusterMembership } from './state/cluster-membership.js';
import { REPLICATED_NAMESPACES } from '../shared/state/namespaces.js';

function exitWith(message: string, log?: Logger): never {
  log?.fatal(message);
  process.stderr.write(`veloflux: ${message}\n`);
  process.exit(1);
}


/** Certificate verification turned off is allowed (for tests) but never silent. */
function warnInsecureUpstreams(config: Readonly<VelofluxConfig>, log: Logger): void {
  for (const pool of config.pools) {
    if (pool.tls.insecureSkipVerify) log.warn({ pool: pool.name }, 'TLS certificate verification is OFF for this pool (tls.insecureSkipVerify)');
  }
}

export async function runPrimary(configPath: string): Promise<void> {
  const log = createLogger('primary');
  // The recent lines of every process, for GET /api/admin/logs (bounded; stdout gets them all).
  const recentLogs = new RecentLogs();
  logTap.attach(recentLogs.sink);
  const nodeId = newNodeId();
  let controller: ConfigController;
  try {
    controller = await ConfigController.load(configPath, (config) => openStateStore(config.server, nodeId, log), (dataDir) => new AuditLog(dataDir, log), log);
  } catch (err) {
    if (err instanceof ConfigError) exitWith(`invalid configuration\n${err.message}`);
    if (err instanceof StateFileError) exitWith(`unusable state file\n${err.message}`);
    throw err;
  }
  const { server } = controller.config;
  const token = await resolveAdminToken(server.admin, process.env).catch((err: Error) => exitWith(err.message, log));
  const stickySecret = await resolveStickySecret(server.dataDir, process.env).catch((err: Error) => exitWith(err.message, log));
  const apiSecrets = await resolveApiSecrets(server, process.env).catch((err: Error) => exitWith(err.message, log));
  // The main API's first admin (VELOFLUX_ADMIN_EMAIL / VELOFLUX_ADMIN_PASSWORD, or a generated password shown once).
  const firstAdmin = await bootstrapAdmin(controller.store, process.env, log).catch((err: VelofluxError) => {
    if (err.code === 'VF_ERR_CONFIG_INVALID') exitWith(err.message, log);
    log.warn({ err: err.message }, 'could not check for the first admin user (state store unavailable); restart once it is back to create one');
    return undefined;
  });

  const supervisor = new Supervisor({ version: 1, config: controller.config, stickySecret, apiSecrets }, log, { workers: clusterWorkers() });
  const stopAndExit = (message: string) => {
    log.fatal(message);
    process.stderr.write(`veloflux: ${message}\n`);
    void supervisor.shutdown(0).finally(() => process.exit(1));
  };

  const audit = controller.audit;
  const stateService = new StateService(controller.store, REPLICATED_NAMESPACES, log);
  controller.attach(supervisor);
  stateService.attach(supervisor);
  const workerRpc = new WorkerRpc((workerId, message) => void supervisor.sendTo(workerId, message));
  handleBackendCalls(workerRpc, controller);
  workerRpc.handle('logs.recent', async (query) => recentLogs.query(query));
  const alerts = new AlertStore();
  workerRpc.handle('alerts.record', async ({ payload, receivedBy }) => {
    const stored = alerts.record(payload as { alerts?: unknown });
    log.info({ stored, receivedBy }, 'alerts received from Alertmanager');
    return { stored };
  });
  workerRpc.handle('alerts.list', async ({ limit }) => ({ alerts: alerts.newest(limit ?? 100) }));
  // Workers see one availability map: active check results, with ejected outliers marked out.
  const publishAvailability = () => {
    const available = healthChecker.states();
    for (const id of outliers.ejected()) available[id] = false;
    supervisor.broadcastHealth(available);
  };
  const healthChecker = new HealthChecker(log, publishAvailability);
  const outliers = new OutlierDetector(log, publishAvailability);
  // Splits every rate limit over the workers by demand. Embedded: this instance holds each limit
  // alone; with Redis, the instances split it by their demand too (on a connection of its own, so
  // the 100 ms ticks never queue behind state writes).
  const rateLimits = new RateLimitCoordinator({
    exchange:
      server.redis === undefined
        ? new EmbeddedDemandExchange()
        : new RedisDemandExchange(createRedisConnection(server.redis, 'rate-limits'), { keyPrefix: server.redis.keyPrefix, instanceId: nodeId, log }),
    send: (workerId, message) => void supervisor.sendTo(workerId, message),
    workerIds: () => supervisor.servingWorkerIds(),
    log,
  });
  controller.onApplied = (config) => {
    healthChecker.update(config);
    outliers.update(config);
    warnInsecureUpstreams(config, log);
  };
  warnInsecureUpstreams(controller.config, log);
  let membership: ClusterMembership | undefined;
  const admin = createAdminServer({ controller, supervisor: supervisor, audit, healthChecker, outliers, shutdownDeadlineMs: server.timeouts.shutdown, rootLog: log, cluster: () => membership }, token.value, log);
  const workersReady = new Promise<{ httpPort: number; apiPort: number; httpsPort: number | undefined }>((onAllReady) =>
    supervisor.start({
      onAllReady,
      onFatal: stopAndExit,
      onOutlier: (backendId, failures) => outliers.report(backendId, failures),
      onRateUsage: (workerId, usage) => rateLimits.report(workerId, usage),
      onWorkerHello: (workerId) => {
        void stateService.sync(workerId);
        if (lastFeed !== undefined) supervisor.sendTo(workerId, primaryMessage({ type: 'api-feed', feed: lastFeed }));
      },
      onStateRequest: (workerId, requestId, request) => stateService.handle(workerId, requestId, request),
      onRpcRequest: (workerId, requestId, method, params) => workerRpc.dispatch(workerId, requestId, method, params),
      onLogLines: (_workerId, lines, dropped) => recentLogs.addBatch(lines, dropped),
    }),
  );
  rateLimits.start();
  // The main API's data, built once a second for every worker (DESIGN: fed by the primary once per tick).
  const apiFeed = new ApiFeedBuilder({ supervisor: supervisor, controller, healthChecker, outliers, cluster: () => membership, version: VELOFLUX_VERSION, startedAt: Date.now(), log, alerts: () => alerts.newest(FEED_ALERTS) });
  let lastFeed: ApiFeed | undefined;
  const publishFeed = (feed: ApiFeed) => {
    lastFeed = feed;
    supervisor.broadcast(primaryMessage({ type: 'api-feed', feed }));
  };
  apiFeed.start(publishFeed);
  healthChecker.update(controller.config);
  outliers.update(controller.config);
  // Installed before start-up finishes: a SIGHUP's default action would kill the primary.
  process.on('SIGHUP', () => {
    controller.reload({ via: 'SIGHUP' }).then(
      (result) => log.info({ result }, 'reloaded on SIGHUP'),
      (err: Error) => log.error({ err: err instanceof ConfigError ? err.message : err }, 'reload on SIGHUP rejected; the running config is unchanged'),
    );
  });

  const metricsServer = createMetricsServer({ supervisor: supervisor, controller, healthChecker, outliers, version: VELOFLUX_VERSION, cluster: () => membership });
  let adminPort: number;
  let adminHost: string;
  let metricsAddress: AddressInfo;
  try {
    await admin.listen({ port: server.admin.port, host: server.admin.host });
    const bound = admin.server.address() as AddressInfo;
    adminPort = bound.port;
    adminHost = bound.address;
  } catch (err) {
    return stopAndExit(listenErrorMessage(err as Error & { code?: string }, 'server.admin.port', server.admin.port, 'VELOFLUX_ADMIN_PORT'));
  }
  try {
    await metricsServer.listen({ port: server.metrics.port, host: server.metrics.host });
    metricsAddress = metricsServer.server.address() as AddressInfo;
  } catch (err) {
    return stopAndExit(listenErrorMessage(err as Error & { code?: string }, 'server.metrics.port', server.metrics.port, 'VELOFLUX_METRICS_PORT'));
  }
  if (firstAdmin?.generatedPassword !== undefined) {
    // Shown once: only its scrypt hash is stored. Set VELOFLUX_ADMIN_PASSWORD to choose it instead.
    process.stderr.write(`veloflux: first API admin ${firstAdmin.email}, password (generated, shown once): ${firstAdmin.generatedPassword}\n`);
  }
  if (token.generated) {
    // Shown once: it is not written anywhere. Set VELOFLUX_ADMIN_TOKEN to choose your own.
    process.stderr.write(`veloflux: admin API token (generated for this run, shown once): ${token.value}\n`);
  }
  const { httpPort, apiPort, httpsPort } = await workersReady;
  membership = joinCluster(server.redis, identityOf(nodeId, httpPort, VELOFLUX_VERSION), log);
  const stopMaintenance = maintainSessions(controller.store, () => membership?.isLeader ?? false, log);
  // Every worker serves now: the API's health should say so at once, not at the next tick.
  publishFeed(apiFeed.build(Date.now()));
  log.info(
    {
      http: { host: server.http.host, port: httpPort },
      ...(server.https !== undefined && httpsPort !== undefined ? { https: { host: server.https.host, port: httpsPort } } : {}),
      api: { host: server.api.host, port: apiPort },
      admin: { host: adminHost, port: adminPort },
      metrics: { host: metricsAddress.address, port: metricsAddress.port },
      workers: server.workers,
      configVersion: supervisor.committed.version,
      nodeId,
      state: controller.store.status().backend,
    },
    'veloflux ready',
  );


  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, deadlineMs: server.timeouts.shutdown }, 'shutting down: draining in-flight requests');
    void admin.close();
    void metricsServer.close();
    healthChecker.stop();
    outliers.stop();
    void rateLimits.stop();
    apiFeed.stop();
    stopMaintenance();
    // Leave the node list and hand the lease over at once, rather than after their timeouts.
    const leaving = membership?.stop() ?? Promise.resolve();
    void supervisor.shutdown(server.timeouts.shutdown).then(async () => {
      log.info('all workers stopped');
      await Promise.race([leaving, new Promise((r) => setTimeout(r, 1000))]);
      await Promise.race([controller.store.close(), new Promise((r) => setTimeout(r, 1000))]);
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
