/**
 * A worker's runtime: everything the request path reads, built from one frozen snapshot and
 * swapped in whole. In-flight requests keep the runtime they started with.
 */
import { BlockList, isIPv4 } from 'node:net';
import type { ConfigSnapshot } from '../../shared/ipc.js';
import { BackendAddressPolicy, configuredListenerPorts } from '../../shared/backend-address-policy.js';
import type { RateLimitConfig, ServerConfig } from '../../shared/config/schema.js';
import type { BackendRegistry } from './backend-registry.js';
import { PoolRuntime, type OutlierReporter } from './pool-runtime.js';
import { RouteTable } from './route-table.js';
import type { RateLimitRegistry } from '../rate-limit/rate-limit-registry.js';
import { compileRouteStages } from '../proxy/stages/pipeline.js';
import type { ListenerPorts } from '../proxy/stages/redirect-https.js';
import type { TenantStandings } from '../tenancy/tenant-standings.js';
import { planRateLimits } from '../../shared/billing/plan-rate-limits.js';
import { SecurityPolicy } from '../security/security-policy.js';
import type { LiveIpLists } from '../security/live-ip-lists.js';

/** What outlives runtimes in a worker, and what a runtime is built against. */
export interface RuntimeContext {
  readonly registry: BackendRegistry;
  /** Active health check results by backend id, as the primary last pushed them. */
  readonly health: ReadonlyMap<string, boolean>;
  readonly reportOutlier: OutlierReporter;
  readonly rateLimits: RateLimitRegistry;
  readonly ports: ListenerPorts;
  readonly tenants: TenantStandings;
  /** The address lists edited through the APIs (they outlive snapshots). */
  readonly liveIpLists: LiveIpLists;
}

export class Runtime {
  readonly version: number;
  /** The snapshot's config, for readers off the request path (the main API). */
  readonly config: ConfigSnapshot['config'];
  readonly routeTable: RouteTable;
  readonly pools: readonly PoolRuntime[];
  readonly trustedProxies: BlockList;
  /** Whether any proxy is trusted at all: skips the address lookup on the common path. */
  readonly trustsAnyProxy: boolean;
  readonly maxBodySize: number;
  /** More header fields than this: 431 (node keeps one more than this, see the HTTP engine). */
  readonly maxHeaderCount: number;
  /** HTTP/2 requests with a larger header list (RFC 9113 §6.5.2) get 431. */
  readonly maxHeaderListSize: number;
  /** This instance's Via entry (`1.1 vf-<instance id>`), added to every request sent upstream. */
  readonly via: string;
  /** The same for requests that arrived over HTTP/2 (`2 vf-<instance id>`, RFC 9110 §7.6.3). */
  readonly viaH2: string;
  /** ` vf-<instance id>`: found in a request's Via, the request has been through this instance (a loop). */
  readonly viaPseudonym: string;
  /** How long removed backends keep their in-flight requests after this runtime is swapped in. */
  readonly drainMs: number;
  /** The address lists edited through the APIs: while they have entries, every route runs its guardedStages. */
  readonly liveIpLists: LiveIpLists;
  readonly #rateLimits: RateLimitRegistry;
  readonly #rateLimitPolicies: readonly RateLimitConfig[];

  constructor(snapshot: ConfigSnapshot, { registry, health, reportOutlier, rateLimits, ports, tenants, liveIpLists }: RuntimeContext) {
    const { config } = snapshot;
    this.version = snapshot.version;
    this.config = config;
    const addressPolicyOf = addressPolicies(config);
    this.pools = config.pools.map((pool) => new PoolRuntime(pool, config.server, registry, health, reportOutlier, snapshot.stickySecret, addressPolicyOf));
    // Limiters come from the registry, so an unchanged policy keeps its buckets across swaps.
    this.#rateLimits = rateLimits;
    this.#rateLimitPolicies = [...config.rateLimits, ...planRateLimits(config.billing)];
    const rateLimiters = new Map(this.#rateLimitPolicies.map((policy) => [policy.name, rateLimits.limiterFor(policy)]));
    const poolIndex = new Map(config.pools.map((pool, i) => [pool.name, i]));
    const billing = config.billing;
    const security = new SecurityPolicy(config.security, liveIpLists);
    this.routeTable = new RouteTable(config.routes, poolIndex, (route) => compileRouteStages(route, { ports, rateLimiters, tenants, billing, security }));
    this.trustedProxies = buildBlockList(config.server);
    this.trustsAnyProxy = config.server.trustedProxies.length > 0;
    this.maxBodySize = config.server.limits.maxBodySize;
    this.maxHeaderCount = config.server.limits.maxHeaderCount;
    this.maxHeaderListSize = config.server.https?.http2.maxHeaderListSize ?? Number.POSITIVE_INFINITY;
    this.via = `1.1 vf-${snapshot.instanceId}`;
    this.viaH2 = `2 vf-${snapshot.instanceId}`;
    this.viaPseudonym = ` vf-${snapshot.instanceId}`;
    this.drainMs = config.server.timeouts.drain;
    this.liveIpLists = liveIpLists;
  }

  applyHealth(health: ReadonlyMap<string, boolean>): void {
    for (const pool of this.pools) pool.applyHealth(health);
  }

  /** This runtime is now the one serving: the registry may drop what only older ones used. */
  activate(registry: BackendRegistry): void {
    registry.retain(
      new Set(this.pools.flatMap((pool) => pool.backends.map((b) => b.id))),
      new Set(this.pools.flatMap((pool) => pool.upstreamKeys)),
      this.drainMs,
    );
    this.#rateLimits.retain(this.#rateLimitPolicies);
  }
}

/**
 * Each tenant's backend address policy, built once per runtime when a backend needs it. The ports
 * are the configured ones: a listener configured as port 0 is bound later, in the primary (which
 * checks those at add time).
 */
function addressPolicies(config: ConfigSnapshot['config']): (tenant: string) => BackendAddressPolicy {
  const ports = new Set(configuredListenerPorts(config.server));
  const built = new Map<string, BackendAddressPolicy>();
  return (tenant) => {
    let policy = built.get(tenant);
    if (policy === undefined) built.set(tenant, (policy = new BackendAddressPolicy(config.backendPolicy, tenant, ports)));
    return policy;
  };
}

function buildBlockList(server: ServerConfig): BlockList {
  const list = new BlockList();
  for (const entry of server.trustedProxies) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const type = isIPv4(address) ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return list;
}
