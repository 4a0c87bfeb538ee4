/**
 * Passive outlier detection, decided in the primary from what workers report (a backend failed
 * `consecutiveFailures` times in a row in some worker). An ejected backend gets no new requests
 * for `baseEjectionTime × n` (n = how many times it was ejected, capped at `maxEjectionTime`), as
 * in Envoy; no more than `maxEjectionPercent` of a pool is ejected at once, so a pool-wide outage
 * cannot eject everything. When the time is up the backend returns (if the pool has active health
 * checks, those still decide whether it is healthy). The multiplier resets after a backend has
 * gone `maxEjectionTime` without being ejected.
 */
import type { OutlierDetectionConfig, VelofluxConfig } from '../shared/config/schema.js';
import type { Logger } from '../shared/log.js';

interface PoolSettings {
  readonly pool: string;
  readonly settings: OutlierDetectionConfig;
  readonly backendIds: readonly string[];
}

interface Ejection {
  /** Times ejected since the multiplier last reset. */
  count: number;
  /** Times ejected since this instance started. */
  total: number;
  /** Until when (ms since epoch) it is out; 0 when it is not ejected now. */
  until: number;
  lastEjectedAt: number;
  timer: NodeJS.Timeout | undefined;
}

export interface EjectionView {
  id: string;
  pool: string;
  ejected: boolean;
  /** Times ejected since the backoff multiplier last reset. */
  ejections: number;
  /** Times ejected since this instance started. */
  ejectionsTotal: number;
  until: string | null;
}

export class OutlierDetector {
  #byBackend = new Map<string, PoolSettings>();
  readonly #ejections = new Map<string, Ejection>();
  readonly #log: Logger;
  readonly #onChange: () => void;

  constructor(log: Logger, onChange: () => void) {
    this.#log = log;
    this.#onChange = onChange;
  }

  update(config: Readonly<VelofluxConfig>): void {
    const byBackend = new Map<string, PoolSettings>();
    for (const pool of config.pools) {
      if (pool.outlierDetection === undefined) continue;
      const entry: PoolSettings = { pool: pool.name, settings: pool.outlierDetection, backendIds: pool.backends.map((b) => b.id) };
      for (const id of entry.backendIds) byBackend.set(id, entry);
    }
    this.#byBackend = byBackend;
    let changed = false;
    for (const [id, ejection] of this.#ejections) {
      if (byBackend.has(id)) continue;
      clearTimeout(ejection.timer);
      this.#ejections.delete(id);
      changed ||= ejection.until > 0;
    }
    if (changed) this.#onChange();
  }

  /** A worker saw `backendId` fail repeatedly. */
  report(backendId: string, consecutiveFailures: number): void {
    const entry = this.#byBackend.get(backendId);
    if (entry === undefined) return;
    const now = Date.now();
    const current = this.#ejections.get(backendId);
    if (current !== undefined && current.until > 0) return; // already out
    const ejectedInPool = entry.backendIds.filter((id) => (this.#ejections.get(id)?.until ?? 0) > 0).length;
    if (((ejectedInPool + 1) / entry.backendIds.length) * 100 > entry.settings.maxEjectionPercent) {
      this.#log.warn({ backend: backendId, pool: entry.pool, consecutiveFailures, ejectedInPool }, 'outlier not ejected: maxEjectionPercent reached');
      return;
    }
    const ejection: Ejection = current ?? { count: 0, total: 0, until: 0, lastEjectedAt: 0, timer: undefined };
    if (ejection.lastEjectedAt > 0 && now - ejection.lastEjectedAt > entry.settings.maxEjectionTime + entry.settings.baseEjectionTime * ejection.count) ejection.count = 0;
    ejection.count++;
    ejection.total++;
    const duration = Math.min(entry.settings.baseEjectionTime * ejection.count, entry.settings.maxEjectionTime);
    ejection.until = now + duration;
    ejection.lastEjectedAt = now;
    ejection.timer = setTimeout(() => this.#readmit(backendId), duration);
    ejection.timer.unref();
    this.#ejections.set(backendId, ejection);
    this.#log.warn({ backend: backendId, pool: entry.pool, consecutiveFailures, ejectedForMs: duration, ejections: ejection.count }, 'backend ejected');
    this.#onChange();
  }

  #readmit(backendId: string): void {
    const ejection = this.#ejections.get(backendId);
    if (ejection === undefined) return;
    ejection.until = 0;
    ejection.timer = undefined;
    this.#log.info({ backend: backendId }, 'backend readmitted after ejection');
    this.#onChange();
  }

  /** Ids of the backends ejected right now. */
  ejected(): Set<string> {
    const out = new Set<string>();
    for (const [id, ejection] of this.#ejections) if (ejection.until > 0) out.add(id);
    return out;
  }

  details(): EjectionView[] {
    return [...this.#ejections].map(([id, e]) => ({
      id,
      pool: this.#byBackend.get(id)?.pool ?? '',
      ejected: e.until > 0,
      ejections: e.count,
      ejectionsTotal: e.total,
      until: e.until > 0 ? new Date(e.until).toISOString() : null,
    }));
  }

  stop(): void {
    for (const ejection of this.#ejections.values()) clearTimeout(ejection.timer);
  }
}
