/** One configured pool inside a runtime: its backends, balancer, upstream pools and settings. */
import { readFileSync } from 'node:fs';
import type { BackendAddressPolicy } from '../../shared/backend-address-policy.js';
import type { PoolConfig, ServerConfig } from '../../shared/config/schema.js';
import { VelofluxError } from '../../shared/errors.js';
import { Backend } from './backend.js';
import type { BackendRegistry } from './backend-registry.js';
import type { UpstreamDispatcher } from '../upstream/upstream-call.js';
import type { Balancer, HashKey } from '../balancers/balancer.js';
import { createBalancer } from '../balancers/index.js';
import { StickySessions } from './sticky-sessions.js';

export type OutlierReporter = (backendId: string, consecutiveFailures: number) => void;

export class PoolRuntime {
  readonly name: string;
  readonly backends: readonly Backend[];
  readonly balancer: Balancer;
  /** Upstream pool per backend, indexed by `backend.index`. */
  readonly upstreams: readonly UpstreamDispatcher[];
  /** Registry keys of those pools, so the registry can close the ones no runtime uses. */
  readonly upstreamKeys: readonly string[];
  readonly retries: number;
  readonly requestTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  /** Requests per backend (per worker) beyond which the answer is 503 at once: connections + pending. */
  readonly maxInFlightPerBackend: number;
  readonly retryBudget: { readonly percent: number; readonly minRetriesConcurrent: number };
  /** Present when the pool has sticky sessions. */
  readonly sticky: StickySessions | undefined;
  /** Requests of this pool in flight in this worker, and how many of them are retries (retry budget). */
  activeRequests = 0;
  activeRetries = 0;
  readonly panicMode: boolean;
  #panicNext = 0;
  /** Idle timeout and max lifetime of the pool's WebSocket tunnels. */
  readonly websocket: PoolConfig['websocket'];

  /** What a checked backend counts as until its first probe result (unchecked ones are healthy). */
  readonly #defaultHealthy: boolean;
  /** Consecutive failures that are reported to the primary as an outlier; 0: detection off. */
  readonly #outlierThreshold: number;
  readonly #reportOutlier: OutlierReporter;

  /**
   * `health`: active health check results by backend id, as the primary last pushed them;
   * `addressPolicyOf`: the backend address policy of a tenant, for the backends it added.
   */
  constructor(
    config: PoolConfig,
    server: ServerConfig,
    registry: BackendRegistry,
    health: ReadonlyMap<string, boolean>,
    reportOutlier: OutlierReporter,
    stickySecret: string,
    addressPolicyOf: (tenant: string) => BackendAddressPolicy,
  ) {
    this.name = config.name;
    this.#outlierThreshold = config.outlierDetection?.consecutiveFailures ?? 0;
    this.#reportOutlier = reportOutlier;
    this.#defaultHealthy = config.healthCheck?.startHealthy ?? true;
    const timeouts = { ...server.timeouts, ...definedOnly(config.timeouts) };
    this.backends = config.backends.map((b, i) => {
      const backend = new Backend(b.id, new URL(b.url), b.weight, i, registry.statsFor(b.id));
      backend.drained = b.drain;
      backend.healthy = health.get(b.id) ?? this.#defaultHealthy;
      return backend;
    });
    const tls = {
      ca: config.tls.ca === undefined ? undefined : readCa(config.tls.ca, config.name),
      servername: config.tls.servername,
      rejectUnauthorized: !config.tls.insecureSkipVerify,
    };
    const upstreams = this.backends.map((b, i) => {
      // A backend a tenant added is held to its address policy on every connection (issue 14).
      const tenant = config.backends[i]!.tenant;
      return registry.poolFor(b.id, b.url.origin, {
        connectTimeoutMs: timeouts.connect,
        responseTimeoutMs: timeouts.response,
        keepAliveMs: timeouts.upstreamKeepAlive,
        maxConnections: config.maxConnectionsPerBackend,
        tls,
        protocol: config.protocol,
        ...(tenant === undefined ? {} : { addressPolicy: addressPolicyOf(tenant) }),
      });
    });
    this.upstreams = upstreams.map((u) => u.pool);
    this.upstreamKeys = upstreams.map((u) => u.key);
    this.balancer = createBalancer(config.algorithm, this.backends, {
      hashKey: parseHashKey(config.hashKey),
      peakEwma: { decayMs: config.adaptive.decay, defaultRttMs: config.adaptive.defaultRtt },
    });
    this.retries = config.retries;
    this.requestTimeoutMs = timeouts.request;
    this.connectTimeoutMs = timeouts.connect;
    this.responseTimeoutMs = timeouts.response;
    this.maxInFlightPerBackend = config.maxConnectionsPerBackend + config.circuitBreaker.maxPendingPerBackend;
    this.retryBudget = config.retryBudget;
    this.panicMode = config.panicMode;
    this.sticky = config.sticky === undefined ? undefined : new StickySessions(config.name, this.backends, config.sticky, stickySecret);
    this.websocket = config.websocket;
  }

  /**
   * Panic mode's pick when the balancer found no available backend: round robin over every backend
   * that is only unhealthy (not drained, weight > 0). Undefined when there is none or panic is off.
   */
  panicPick(exclude?: readonly Backend[]): Backend | undefined {
    if (!this.panicMode) return undefined;
    const count = this.backends.length;
    for (let i = 0; i < count; i++) {
      const backend = this.backends[(this.#panicNext + i) % count]!;
      if (backend.drained || backend.weight === 0 || exclude?.includes(backend)) continue;
      this.#panicNext = (backend.index + 1) % count;
      return backend;
    }
    return undefined;
  }

  /**
   * Whether one more retry fits the budget: at most `percent` of the pool's active requests may be
   * retries (with a floor of `minRetriesConcurrent`), so retries cannot multiply an outage.
   */
  retryAllowed(): boolean {
    const { percent, minRetriesConcurrent } = this.retryBudget;
    return this.activeRetries < Math.max(minRetriesConcurrent, (this.activeRequests * percent) / 100);
  }

  /** A connect error, timeout or 5xx from `backend`; every `consecutiveFailures`-th in a row is reported. */
  recordFailure(backend: Backend): void {
    const failures = ++backend.stats.consecutiveFailures;
    if (this.#outlierThreshold > 0 && failures % this.#outlierThreshold === 0) this.#reportOutlier(backend.id, failures);
  }

  recordSuccess(backend: Backend): void {
    backend.stats.consecutiveFailures = 0;
  }

  /** New health check results: the balancer is told about each change (its tables follow). */
  applyHealth(health: ReadonlyMap<string, boolean>): void {
    for (const backend of this.backends) {
      const healthy = health.get(backend.id) ?? this.#defaultHealthy;
      if (backend.healthy !== healthy) this.balancer.setHealthy(backend, healthy);
    }
  }
}

/** Read for every snapshot, so a renewed CA file is picked up on reload; a missing one fails the build. */
function readCa(file: string, pool: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new VelofluxError('VF_ERR_CONFIG_INVALID', `pools "${pool}" tls.ca: cannot read "${file}": ${code ?? (err as Error).message}`);
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function parseHashKey(text: string | undefined): HashKey | undefined {
  if (text === undefined) return undefined;
  if (text === 'path') return { kind: 'path' };
  const colon = text.indexOf(':');
  const name = text.slice(colon + 1);
  return text.startsWith('header:') ? { kind: 'header', name: name.toLowerCase() } : { kind: 'cookie', name };
}
