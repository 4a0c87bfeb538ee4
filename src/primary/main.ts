/**
 * Primary start-up: load the config (file + persisted runtime changes) and validate it once,
 * fork the workers with the frozen snapshot, serve the admin API, and own the process signals.
 * The primary never proxies traffic. This file wires: each object is created after what it
 * needs and handed to what needs it; the pieces with rules of their own live in their files.
 */
import type { AddressInfo } from 'node:net';
import { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { VELOFLUX_VERSION } from '../shared/version.js';
import { createLogger, type Logger } from '../shared/log.js';
import { ConfigError } from '../shared/config/load.js';
import type { VelofluxConfig } from '../shared/config/schema.js';
import { listenErrorMessage } from '../shared/listen-errors.js';
import { logTap } from '../shared/log-tap.js';
import { FEED_ALERTS } from '../shared/api-feed.js';
import { REPLICATED_NAMESPACES } from '../shared/state/namespaces.js';
import { createRedisConnection } from '../shared/state/redis-connection.js';
import { loadStartup } from './startup.js';
import { ShutdownCoordinator } from './shutdown.js';
import { Supervisor, type WorkerPorts } from './supervisor.js';
import { clusterWorkers } from './worker-process.js';
import { BackendAvailability } from './backend-availability.js';
import { createAdminServer } from './admin/server.js';
import { createMetricsServer } from './metrics/server.js';
import { RateLimitCoordinator } from './rate-limit/rate-limit-coordinator.js';
import { EmbeddedDemandExchange } from './rate-limit/embedded-demand-exchange.js';
import { RedisDemandExchange } from './rate-limit/redis-demand-exchange.js';
import { newNodeId } from './state/state-store.js';
import { StateService } from './state/state-service.js';
import { SecurityEventStore } from './security/security-event-store.js';
import { ClusterSeat } from './state/cluster-seat.js';
import { maintainSessions } from './state/session-maintenance.js';
import { WorkerRpc } from './worker-rpc.js';
import { handleBackendCalls } from './api-rpc-handlers.js';
import { handleObservationCalls } from './api-rpc-observations.js';
import { ApiFeedBuilder } from './api-feed/feed-builder.js';
import { FeedPublisher } from './api-feed/feed-publisher.js';
import { RecentLogs } from './recent-logs.js';
import { AlertStore } from './alert-store.js';
import { StaticSite } from './dashboard/static-site.js';
import { UsageMeter } from './billing/usage-meter.js';
import { QuotaKeeper } from './billing/quota-keeper.js';
import { PeriodCloser } from './billing/period-closer.js';
import { PlanSwitch } from '../shared/billing/plan-switch.js';
import { billingEventId, enqueueBillingEvent } from '../shared/billing/billing-events.js';
import { QuotaWarnings } from './billing/quota-warnings.js';
import { WebhookSender } from './billing/webhook-sender.js';
import { BillingFeedBuilder } from './billing/billing-feed-builder.js';
import { primaryMessage } from '../shared/ipc.js';
import { clusterTotals } from './metrics/aggregate.js';
import { createDashboardServer } from './dashboard/dashboard-server.js';
import { randomBytes } from 'node:crypto';
import { handleAiCalls } from './api-rpc-ai.js';
import { AnomalyDetector } from './ai/anomaly-detector.js';
import { AiMonitor } from './ai/ai-monitor.js';
import type { AiAnomaly } from '../shared/ai-api.js';
import { ModelStore } from './ai/model-store.js';
import { Predictor } from './ai/predictor.js';
import { SeriesStore } from './ai/series-store.js';
import { trafficCounts } from './ai/traffic-counts.js';
import { TrafficRecorder } from './ai/traffic-recorder.js';
import { Trainer } from './ai/trainer.js';

/** How often the leader retrains the forecasts on its own. */
const AI_TRAINING_INTERVAL_MS = 10 * 60_000;

/** Certificate verification turned off is allowed (for tests) but never silent. */
function warnInsecureUpstreams(config: Readonly<VelofluxConfig>, log: Logger): void {
  for (const pool of config.pools) {
    if (pool.tls.insecureSkipVerify) log.warn({ pool: pool.name }, 'TLS certificate verification is OFF for this pool (tls.insecureSkipVerify)');
  }
}

/** dist/dashboard, built by `npm run build:dashboard` beside this compiled file's dist/src. */
const DASHBOARD_BUILD = fileURLToPath(new URL('../../dashboard/', import.meta.url));

/** Where this host reaches a listener bound to `host`: a wildcard bind is reached on loopback. */
function loopbackFor(host: string): string {
  return host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
}

type Listener = FastifyInstance | Server;

function listen(listener: Listener, at: { port: number; host: string }): Promise<AddressInfo> {
  if (listener instanceof Server) {
    return new Promise((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(at.port, at.host, () => {
        listener.off('error', reject);
        resolve(listener.address() as AddressInfo);
      });
    });
  }
  return listener.listen({ port: at.port, host: at.host }).then(() => listener.server.address() as AddressInfo);
}

/** Binds a control-plane listener; one that cannot bind stops VeloFlux with the reason and the fix. */
async function listenOrFail(listener: Listener, at: { port: number; host: string }, configPath: string, envName: string, shutdown: ShutdownCoordinator): Promise<AddressInfo | undefined> {
  try {
    return await listen(listener, at);
  } catch (err) {
    shutdown.fail(listenErrorMessage(err as Error & { code?: string }, configPath, at.port, envName));
    return undefined;
  }
}

export async function runPrimary(configPath: string): Promise<void> {
  const log = createLogger('primary');
  // The recent lines of every process, for GET /api/admin/logs (bounded; stdout gets them all).
  const recentLogs = new RecentLogs();
  logTap.attach(recentLogs.sink);
  const nodeId = newNodeId();
  const { controller, token, stickySecret, apiSecrets, firstAdmin } = await loadStartup(configPath, nodeId, log);
  const { server } = controller.config;

  const instanceId = randomBytes(6).toString('hex');
  const supervisor = new Supervisor({ version: 1, config: controller.config, stickySecret, apiSecrets, instanceId }, log, { workers: clusterWorkers() });
  const shutdown = new ShutdownCoordinator(supervisor, server.timeouts.shutdown, log);
  controller.attach(supervisor);
  const stateService = new StateService(controller.store, REPLICATED_NAMESPACES, log);
  stateService.attach(supervisor);
  const availability = new BackendAvailability(supervisor, log);
  const { checks: healthChecker, outliers } = availability;
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
  const alerts = new AlertStore();
  // The workers' security events, into the state store (issue 17): every instance and worker reads them there.
  const securityEvents = new SecurityEventStore(controller.store, log);
  securityEvents.start();
  const workerRpc = new WorkerRpc((workerId, message) => void supervisor.sendTo(workerId, message));
  handleBackendCalls(workerRpc, controller);
  handleObservationCalls(workerRpc, recentLogs, alerts, log);
  const seat = new ClusterSeat(server.redis, nodeId, VELOFLUX_VERSION, log, () => ({ version: supervisor.committed.version, etag: controller.etag }));
  const cluster = seat.membership;
  // AI (issue 18): traffic series cut from the aggregated counters, forecasts trained in a piscina
  // thread and stored as versioned records, anomalies from each backend's recent seconds. With
  // Redis only the leader writes series and trains; every instance reads what it stored.
  const isAiWriter = () => server.redis === undefined || seat.isLeader();
  const series = new SeriesStore(controller.store);
  const models = new ModelStore(controller.store);
  const predictor = new Predictor(series, models);
  const configuredKeys = () => [...controller.config.pools.map((p) => `pool:${p.name}`), ...controller.config.routes.map((r) => `route:${r.host}${r.path}`)];
  const trainer = new Trainer({ series, models, isLeader: isAiWriter, configuredKeys, log });
  const poolOfBackend = (id: string) => controller.config.pools.find((p) => p.backends.some((b) => b.id === id))?.name;
  const onAnomaly = (anomaly: AiAnomaly) => {
    alerts.recordAnomaly(anomaly);
    monitor.record(anomaly);
    log.warn({ anomaly }, anomaly.endedAt === undefined ? 'anomaly detected' : 'anomaly over');
  };
  const anomalies = new AnomalyDetector({ poolOf: poolOfBackend, onEvent: onAnomaly });
  const poolOfSeries = (key: string) => {
    const { pools, routes } = controller.config;
    if (key.startsWith('pool:')) return pools.find((p) => `pool:${p.name}` === key)?.name;
    return routes.find((r) => `route:${r.host}${r.path}` === key)?.pool;
  };
  const monitor = new AiMonitor({ predictor, backendAnomalies: () => anomalies.active(), poolOf: poolOfSeries, onEvent: onAnomaly });
  /** The cluster's request counters, cumulative since start (workers that exited included). */
  const clusterHttp = () => clusterTotals(supervisor.workers().map((w) => w.stats), supervisor.retiredStats).http;
  const recorder = new TrafficRecorder({
    counts: () => trafficCounts(clusterHttp()),
    series,
    isWriter: isAiWriter,
    log,
    onSecond: (now, counts) => anomalies.observe(now, counts),
    onMinute: (closed) => void monitor.compare(closed),
  });
  handleAiCalls(workerRpc, { series, models, predictor, trainer, anomalies: monitor, isLeader: isAiWriter });
  // The main API's data, built once a second for every worker (DESIGN: fed by the primary once per tick).
  const apiFeed = new ApiFeedBuilder({ supervisor, controller, healthChecker, outliers, cluster, version: VELOFLUX_VERSION, startedAt: Date.now(), log, alerts: () => alerts.newest(FEED_ALERTS), ai: (backends) => monitor.feed(backends) });
  const feed = new FeedPublisher(supervisor);
  // Tenants' usage and billing events for the billing stream, on every instance.
  const billingFeed = new BillingFeedBuilder({ store: controller.store, config: () => controller.config, publish: (built) => supervisor.broadcast(primaryMessage({ type: 'billing-feed', feed: built })), log });
  controller.onApplied = (config) => {
    availability.update(config);
    warnInsecureUpstreams(config, log);
  };
  warnInsecureUpstreams(controller.config, log);
  const admin = createAdminServer({ controller, supervisor, audit: controller.audit, healthChecker, outliers, shutdownDeadlineMs: server.timeouts.shutdown, rootLog: log, cluster }, token.value, log);

  const workersReady = new Promise<WorkerPorts>((onAllReady) =>
    supervisor.start({
      onAllReady,
      onFatal: (message) => shutdown.fail(message),
      onOutlier: (backendId, failures) => outliers.report(backendId, failures),
      onRateUsage: (workerId, usage) => rateLimits.report(workerId, usage),
      onWorkerHello: (workerId) => {
        void stateService.sync(workerId);
        feed.greet(workerId);
        supervisor.sendTo(workerId, primaryMessage({ type: 'billing-feed', feed: billingFeed.latest() }));
      },
      onStateRequest: (workerId, requestId, request) => stateService.handle(workerId, requestId, request),
      onRpcRequest: (workerId, requestId, method, params) => workerRpc.dispatch(workerId, requestId, method, params),
      onLogLines: (_workerId, lines, dropped) => recentLogs.addBatch(lines, dropped),
      onSecurityEvents: (_workerId, events, dropped, counts) => securityEvents.add(events, dropped, counts),
    }),
  );
  rateLimits.start();
  apiFeed.start((built) => feed.publish(built));
  billingFeed.start();
  recorder.start();
  trainer.schedule(AI_TRAINING_INTERVAL_MS);
  availability.update(controller.config);
  // Installed before start-up finishes: a SIGHUP's default action would kill the primary.
  process.on('SIGHUP', () => {
    controller.reload({ via: 'SIGHUP' }).then(
      (result) => log.info({ result }, 'reloaded on SIGHUP'),
      (err: Error) => log.error({ err: err instanceof ConfigError ? err.message : err }, 'reload on SIGHUP rejected; the running config is unchanged'),
    );
  });

  const metricsServer = createMetricsServer({ supervisor, controller, healthChecker, outliers, version: VELOFLUX_VERSION, cluster });
  const adminAddress = await listenOrFail(admin, server.admin, 'server.admin.port', 'VELOFLUX_ADMIN_PORT', shutdown);
  if (adminAddress === undefined) return;
  const metricsAddress = await listenOrFail(metricsServer, server.metrics, 'server.metrics.port', 'VELOFLUX_METRICS_PORT', shutdown);
  if (metricsAddress === undefined) return;
  if (firstAdmin?.generatedPassword !== undefined) {
    // Shown once: only its scrypt hash is stored. Set VELOFLUX_ADMIN_PASSWORD to choose it instead.
    process.stderr.write(`veloflux: first API admin ${firstAdmin.email}, password (generated, shown once): ${firstAdmin.generatedPassword}\n`);
  }
  if (token.generated) {
    // Shown once: it is not written anywhere. Set VELOFLUX_ADMIN_TOKEN to choose your own.
    process.stderr.write(`veloflux: admin API token (generated for this run, shown once): ${token.value}\n`);
  }

  const { httpPort, apiPort, httpsPort } = await workersReady;
  // The dashboard forwards /api/ to the main API, whose port (0 in tests) is known only now.
  const dashboardServer = createDashboardServer(StaticSite.load(DASHBOARD_BUILD), { host: loopbackFor(server.api.host), port: apiPort });
  const dashboardAddress = await listenOrFail(dashboardServer, server.dashboard, 'server.dashboard.port', 'VELOFLUX_DASHBOARD_PORT', shutdown);
  if (dashboardAddress === undefined) return;
  // Listeners configured as port 0 are known only now; a tenant's backend must not name them (issue 14).
  for (const port of [adminAddress.port, metricsAddress.port, dashboardAddress.port, httpPort, apiPort, httpsPort]) if (port !== undefined) controller.backendAddresses.listening(port);
  seat.take(httpPort);
  const stopMaintenance = maintainSessions(controller.store, () => seat.isLeader(), log);
  // Tenants' usage, metered from the workers' reports into the state store once a second, and the hard quotas it uses up.
  const meter = new UsageMeter({ store: controller.store, instance: nodeId, config: () => controller.config, metrics: clusterHttp, log });
  const quotas = new QuotaKeeper({ store: controller.store, config: () => controller.config, isLeader: () => seat.isLeader(), log });
  // The leader closes each ended billing period into invoices (numbered without gaps, once each).
  // Plan moves scheduled for a period's end (downgrades) are applied by the leader before it closes that period.
  const planSwitch = new PlanSwitch(controller.store, () => controller.config);
  const closer = new PeriodCloser({
    store: controller.store,
    config: () => controller.config,
    isLeader: () => seat.isLeader(),
    beforeClose: async (_period, now) => {
      for (const moved of await planSwitch.applyScheduled(now)) {
        log.info({ tenant: moved.tenant, from: moved.from, to: moved.to }, 'scheduled plan change applied at the period end');
        await enqueueBillingEvent(controller.store, controller.config.billing, billingEventId('plan', moved.tenant, moved.effectiveAt, moved.to), 'plan.changed', { ...moved, effective: 'period-end' }, now);
      }
    },
    invoiceWritten: async (invoice) => {
      await enqueueBillingEvent(controller.store, controller.config.billing, billingEventId('invoice', invoice.number), 'invoice.closed', invoice);
    },
    log,
  });
  // Quota warnings (80% / 100%) and the billing webhook's outbox, on the leader too.
  const warnings = new QuotaWarnings({ store: controller.store, config: () => controller.config, isLeader: () => seat.isLeader(), log });
  const webhook = new WebhookSender({ store: controller.store, config: () => controller.config, isLeader: () => seat.isLeader(), env: process.env, log });
  const metering = setInterval(
    () =>
      void meter
        .tick()
        .then(() => quotas.check())
        .then(() => warnings.check())
        .then(() => closer.tick())
        .then(() => webhook.tick()),
    1000,
  );
  // Every worker serves now: the API's health should say so at once, not at the next tick.
  feed.publish(apiFeed.build(Date.now()));
  log.info(
    {
      http: { host: server.http.host, port: httpPort },
      ...(server.https !== undefined && httpsPort !== undefined ? { https: { host: server.https.host, port: httpsPort } } : {}),
      api: { host: server.api.host, port: apiPort },
      admin: { host: adminAddress.address, port: adminAddress.port },
      metrics: { host: metricsAddress.address, port: metricsAddress.port },
      dashboard: { host: dashboardAddress.address, port: dashboardAddress.port },
      workers: server.workers,
      configVersion: supervisor.committed.version,
      nodeId,
      state: controller.store.status().backend,
    },
    'veloflux ready',
  );

  shutdown.stopOnSignals({
    stopServices: () => {
      void admin.close();
      void metricsServer.close();
      dashboardServer.close();
      dashboardServer.closeAllConnections();
      availability.stop();
      void rateLimits.stop();
      apiFeed.stop();
      billingFeed.stop();
      void trainer.close();
      stopMaintenance();
      clearInterval(metering);
    },
    leaveCluster: () => seat.leave(),
    // The workers' last reports are in by now: meter them before the store goes.
    closeStore: () => Promise.all([meter.tick(), recorder.stop(), securityEvents.stop()]).then(() => controller.store.close()),
  });
}
