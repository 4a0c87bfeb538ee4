/**
 * Active health checks, run once in the primary (not once per worker, as Envoy and HAProxy do
 * on their main thread): each backend of a pool with `healthCheck` is probed on its interval, a
 * rise/fall threshold turns results into a state, and every state change is pushed to the
 * workers as the full map. The first probe runs at once when a backend appears (start-up or a
 * runtime add) and its result counts directly, so a backend that is down at start is out within
 * one probe instead of `unhealthyThreshold` intervals.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Agent, request } from 'undici';
import type { HealthCheckConfig, PoolConfig, VelofluxConfig } from '../shared/config/schema.js';

type PoolTls = PoolConfig['tls'];
import type { Logger } from '../shared/log.js';

export interface ProbeResult {
  ok: boolean;
  /** HTTP status, when the backend answered. */
  status?: number;
  error?: string;
  at: string;
  durationMs: number;
}

export interface BackendHealth {
  id: string;
  pool: string;
  healthy: boolean;
  lastProbe: ProbeResult | undefined;
}

class Target {
  healthy: boolean;
  passes = 0;
  failures = 0;
  lastProbe: ProbeResult | undefined;
  timer: NodeJS.Timeout | undefined;
  stopped = false;

  /** For https:// backends: probes verify TLS as the pool's traffic does (CA, name, opt-out). */
  readonly dispatcher: Agent | undefined;

  constructor(
    readonly id: string,
    readonly pool: string,
    readonly url: string,
    readonly check: HealthCheckConfig,
    readonly tls: PoolTls,
  ) {
    this.healthy = check.startHealthy;
    if (url.startsWith('https:')) {
      const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
      const servername = tls.servername ?? (isIP(host) === 0 ? host : undefined);
      this.dispatcher = new Agent({
        connect: {
          ...(tls.ca !== undefined ? { ca: readFileSync(tls.ca, 'utf8') } : {}),
          ...(servername !== undefined ? { servername } : {}),
          rejectUnauthorized: !tls.insecureSkipVerify,
        },
      });
    }
  }

  /** Same backend, pool, check and TLS settings: keep its state and schedule across a config change. */
  sameAs(pool: string, url: string, check: HealthCheckConfig, tls: PoolTls): boolean {
    return this.pool === pool && this.url === url && JSON.stringify(this.check) === JSON.stringify(check) && JSON.stringify(this.tls) === JSON.stringify(tls);
  }
}

export class HealthChecker {
  readonly #targets = new Map<string, Target>();
  readonly #log: Logger;
  readonly #onChange: (healthy: Record<string, boolean>) => void;

  constructor(log: Logger, onChange: (healthy: Record<string, boolean>) => void) {
    this.#log = log;
    this.#onChange = onChange;
  }

  /** Follows the config: new backends are probed at once, removed ones are forgotten. */
  update(config: Readonly<VelofluxConfig>): void {
    const wanted = new Set<string>();
    let changed = false;
    for (const pool of config.pools) {
      if (pool.healthCheck === undefined) continue;
      for (const backend of pool.backends) {
        wanted.add(backend.id);
        const existing = this.#targets.get(backend.id);
        if (existing?.sameAs(pool.name, backend.url, pool.healthCheck, pool.tls)) continue;
        if (existing !== undefined) this.#stop(existing);
        const target = new Target(backend.id, pool.name, backend.url, pool.healthCheck, pool.tls);
        if (existing?.url === backend.url) {
          // Same server, new check settings or pool: what is known about it still holds (only
          // the counters restart), so a backend that is down does not count as up until re-probed.
          target.healthy = existing.healthy;
          target.lastProbe = existing.lastProbe;
        }
        this.#targets.set(backend.id, target);
        changed = true;
        void this.#probe(target);
      }
    }
    for (const [id, target] of this.#targets) {
      if (!wanted.has(id)) {
        this.#stop(target);
        this.#targets.delete(id);
        changed = true;
      }
    }
    // The workers must hold the state of every new or replaced target too: #record publishes
    // only changes, so a replaced target whose first result matches its start state (a backend
    // that was down moved to a healthy URL) would otherwise stay as the workers last saw it.
    if (changed) this.#publish();
  }

  /** Current state of every checked backend, for the workers. */
  states(): Record<string, boolean> {
    const out: Record<string, boolean> = {};
    for (const [id, target] of this.#targets) out[id] = target.healthy;
    return out;
  }

  /** Details for the admin API. */
  details(): BackendHealth[] {
    return [...this.#targets.values()].map((t) => ({ id: t.id, pool: t.pool, healthy: t.healthy, lastProbe: t.lastProbe }));
  }

  stop(): void {
    for (const target of this.#targets.values()) this.#stop(target);
    this.#targets.clear();
  }

  #stop(target: Target): void {
    target.stopped = true;
    clearTimeout(target.timer);
    void target.dispatcher?.close();
  }

  async #probe(target: Target): Promise<void> {
    const { check } = target;
    const started = performance.now();
    let result: ProbeResult;
    try {
      const response = await request(new URL(check.path, target.url), {
        method: 'GET',
        headers: { 'user-agent': 'veloflux-health-check', ...(check.host !== undefined ? { host: check.host } : {}) },
        headersTimeout: check.timeout,
        ...(target.dispatcher !== undefined ? { dispatcher: target.dispatcher } : {}),
        bodyTimeout: check.timeout,
        signal: AbortSignal.timeout(check.timeout),
        // A probe must not ride on (or keep) a pooled keep-alive socket: each one tests a connect.
        reset: true,
      });
      await response.body.dump();
      const ok = statusExpected(response.statusCode, check.expectedStatuses);
      result = { ok, status: response.statusCode, at: new Date().toISOString(), durationMs: Math.round(performance.now() - started), ...(ok ? {} : { error: `unexpected status ${response.statusCode}` }) };
    } catch (err) {
      // A timeout is a DOMException, whose `code` is the legacy number 23: name it instead.
      const e = err as Error & { code?: unknown };
      result = { ok: false, error: typeof e.code === 'string' ? e.code : e.name || e.message, at: new Date().toISOString(), durationMs: Math.round(performance.now() - started) };
    }
    if (target.stopped) return;
    this.#record(target, result);
    target.timer = setTimeout(() => void this.#probe(target), Math.max(0, check.interval - (performance.now() - started)));
    target.timer.unref();
  }

  #record(target: Target, result: ProbeResult): void {
    const first = target.lastProbe === undefined;
    target.lastProbe = result;
    if (result.ok) {
      target.passes++;
      target.failures = 0;
    } else {
      target.failures++;
      target.passes = 0;
    }
    const rise = !target.healthy && (first || target.passes >= target.check.healthyThreshold);
    const fall = target.healthy && (first ? !result.ok : target.failures >= target.check.unhealthyThreshold);
    if ((rise && result.ok) || fall) {
      target.healthy = result.ok;
      const fields = { backend: target.id, pool: target.pool, probe: result };
      if (result.ok) this.#log.info(fields, 'backend healthy');
      else this.#log.warn(fields, 'backend unhealthy');
      this.#publish();
    }
  }

  #publish(): void {
    this.#onChange(this.states());
  }
}

export function statusExpected(status: number, expected: readonly (number | string)[]): boolean {
  return expected.some((m) => {
    if (typeof m === 'number') return status === m;
    const [low, high] = m.split('-').map(Number) as [number, number];
    return status >= low && status <= high;
  });
}
