/**
 * This instance's place among the VeloFlux instances sharing one Redis: it registers itself with
 * a heartbeat (so GET /admin/nodes lists the live nodes) and competes for the leader lease that
 * singleton jobs (billing period close, model training) check before running. Embedded mode is a
 * cluster of one: this node, always the leader.
 */
import { hostname } from 'node:os';
import type { Logger } from '../../shared/log.js';
import type { RedisConfig } from '../../shared/config/schema.js';
import { LeaderLease } from '../../shared/state/leader-lease.js';
import { NodeRegistry, type NodeConfigState, type NodeIdentity, type NodeInfo } from '../../shared/state/node-registry.js';
import { closeRedisConnection, createRedisConnection, whenReady, type RedisConnection } from '../../shared/state/redis-connection.js';

/** A leader that stops answering is replaced within this (plus one acquisition attempt). */
const LEASE_TTL_MS = 5000;
/** The leader renews, and the others try to take over, this often: a dead leader's successor follows its expiry within 0.5 s. */
const LEASE_TICK_MS = 500;
const HEARTBEAT_MS = 1000;
/** A node missing this many heartbeats is gone from the list. */
const NODE_TTL_MS = 3500;
const NODE_COUNT_REFRESH_MS = 2000;

export interface ClusterMembership {
  readonly nodeId: string;
  readonly isLeader: boolean;
  /** Live nodes as last listed (refreshed every few seconds), for /metrics: no Redis call per scrape. */
  readonly nodeCount: number;
  /**
   * Whether every live node that reports its config serves the same dynamic config (ETag) as this
   * one, as last listed; a host whose file differs from the cluster's shows here (issue 13).
   */
  readonly inSync: boolean;
  nodes(): Promise<NodeInfo[]>;
  /** Node id of the current leader, if any. */
  leader(): Promise<string | undefined>;
  stop(): Promise<void>;
}

export function identityOf(nodeId: string, httpPort: number, version: string): NodeIdentity {
  return { id: nodeId, address: `${hostname()}:${httpPort}`, version, started: new Date(Date.now() - process.uptime() * 1000).toISOString() };
}

export function joinCluster(redis: RedisConfig | undefined, node: NodeIdentity, log: Logger, config?: () => NodeConfigState): ClusterMembership {
  if (redis === undefined) {
    const self: NodeInfo = { ...node, lastSeen: '', self: true };
    return {
      nodeId: node.id,
      isLeader: true,
      nodeCount: 1,
      inSync: true,
      nodes: async () => [{ ...self, ...(config !== undefined ? { config: config() } : {}), lastSeen: new Date().toISOString() }],
      leader: async () => node.id,
      stop: async () => {},
    };
  }
  const connection: RedisConnection = createRedisConnection(redis, 'cluster');
  const report = (message: string, error?: unknown) => log.warn({ err: error instanceof Error ? error.message : error }, message);
  const registry = new NodeRegistry(connection, { keyPrefix: redis.keyPrefix, node, heartbeatMs: HEARTBEAT_MS, ttlMs: NODE_TTL_MS, log: report, ...(config !== undefined ? { config } : {}) });
  const lease = new LeaderLease(connection, { keyPrefix: redis.keyPrefix, name: 'leader', nodeId: node.id, ttlMs: LEASE_TTL_MS, renewEveryMs: LEASE_TICK_MS, log: report });
  lease.onChange((isLeader) => log.info({ nodeId: node.id, fencingToken: lease.fencingToken }, isLeader ? 'this instance is now the cluster leader' : 'this instance is no longer the cluster leader'));
  // Heartbeats and the lease start once the connection is ready (or Redis is found down), so a
  // healthy start does not report failed heartbeats.
  let stopped = false;
  void whenReady(connection).then(() => {
    if (stopped) return;
    registry.start();
    lease.start();
  });
  let nodeCount = 1;
  let inSync = true;
  const countNodes = () =>
    registry.list().then(
      (nodes) => {
        nodeCount = nodes.length;
        const mine = config?.().etag;
        const others = nodes.filter((n) => !n.self && n.config !== undefined && n.config.etag !== mine);
        const wasInSync = inSync;
        inSync = others.length === 0;
        if (wasInSync && !inSync) {
          log.warn({ etag: mine, diverged: others.map((n) => ({ node: n.id, etag: n.config!.etag, version: n.config!.version })) }, 'instances sharing this Redis serve a different dynamic config: see GET /admin/nodes');
        } else if (!wasInSync && inSync) log.info({ etag: mine }, 'every instance serves the same dynamic config again');
      },
      () => {},
    );
  const counter = setInterval(countNodes, NODE_COUNT_REFRESH_MS).unref();
  void countNodes();
  return {
    nodeId: node.id,
    get isLeader() {
      return lease.isLeader;
    },
    get nodeCount() {
      return nodeCount;
    },
    get inSync() {
      return inSync;
    },
    nodes: () => registry.list(),
    leader: async () => (await lease.holder()) ?? undefined,
    stop: async () => {
      stopped = true;
      clearInterval(counter);
      await Promise.allSettled([registry.stop(), lease.stop()]);
      await closeRedisConnection(connection);
    },
  };
}
