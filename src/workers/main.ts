/**
 * Worker entry: wires the parts of a worker and routes the primary's messages to them. The
 * snapshot protocol is SnapshotHost's (host.ts); what is served from a snapshot is
 * WorkerServer's (worker-server.ts).
 */
import cluster from 'node:cluster';
import { isVelofluxMessage, workerMessage, type PrimaryMessage, type WorkerMessage } from '../shared/ipc.js';
import { createLogger } from '../shared/log.js';
import { logTap } from '../shared/log-tap.js';
import { DeadlineWheel } from './deadline-wheel.js';
import { SnapshotHost } from './host.js';
import { WorkerServer } from './worker-server.js';
import { BackendRegistry } from './runtime/backend-registry.js';
import { RateLimitRegistry } from './rate-limit/rate-limit-registry.js';
import { Telemetry } from './telemetry/telemetry.js';
import { StateReplica } from './primary-link/state-replica.js';
import { PrimaryRpc } from './primary-link/primary-rpc.js';
import { LogForwarder } from './primary-link/log-forwarder.js';
import { FeedRelay } from './api/feed-relay.js';
import { BillingRelay } from './api/billing-relay.js';
import { TenantStandings } from './tenancy/tenant-standings.js';
import { LiveIpLists } from './security/live-ip-lists.js';

/** One coarse timer for every deadline in the worker: requests, upstream connections, tunnels. */
const WHEEL_TICK_MS = 100;

const workerId = cluster.worker?.id ?? 0;
const log = createLogger('worker', { worker: workerId });
const send = (message: WorkerMessage): void => void (process.connected && process.send?.(message));
const exit = (code: number): never => process.exit(code);

/** This worker's log lines also go up to the primary's recent-log ring (GET /api/admin/logs). */
const logForwarder = new LogForwarder(send);
logTap.attach(logForwarder.push);

const wheel = new DeadlineWheel(WHEEL_TICK_MS);
/** Active health check results from the primary, by backend id. */
const health = new Map<string, boolean>();
/** This worker's view of the state store (the main API reads users and tenants from it). */
const state = new StateReplica(send);
/** Calls to the primary (config changes, logs, alerts) for the main API. */
const rpc = new PrimaryRpc(send);
/** The primary's once-a-second feed for the main API and its streams. */
const feed = new FeedRelay();
/** The primary's billing feed (usage and billing events) for the billing stream. */
const billing = new BillingRelay();
// Backend counters, upstream pools and rate limiters outlive config swaps.
const registry = new BackendRegistry(wheel);
const rateLimits = new RateLimitRegistry();
const tenants = new TenantStandings(state);
/** The address lists edited through the APIs, applied to the next request on every route. */
const liveIpLists = new LiveIpLists();
liveIpLists.follow(state);
const server = new WorkerServer({ registry, rateLimits, tenants, liveIpLists, health, wheel, telemetry: new Telemetry(), api: { state, rpc, feed, billing }, log, send, exit });
const host = new SnapshotHost(server, { send, exit }, workerId, log);

function shutdown(deadlineMs: number): void {
  server.shutdown(deadlineMs, () => logForwarder.flush());
}

process.on('message', (message: unknown) => {
  if (!isVelofluxMessage(message)) return;
  const msg = message as PrimaryMessage;
  if (state.receive(msg)) return;
  switch (msg.type) {
    case 'rpc-reply':
      return rpc.settle(msg.requestId, msg.result, msg.error);
    case 'api-feed':
      return feed.receive(msg.feed);
    case 'billing-feed':
      return billing.receive(msg.feed);
    case 'snapshot':
      return host.snapshot(msg.snapshot);
    case 'prepare':
      return host.prepare(msg.snapshot);
    case 'commit':
      return host.commit(msg.configVersion);
    case 'abort':
      return host.abort(msg.configVersion);
    case 'log-level':
      log.level = msg.level;
      return;
    case 'health':
      health.clear();
      for (const [id, healthy] of Object.entries(msg.healthy)) health.set(id, healthy);
      server.runtime?.applyHealth(health);
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
