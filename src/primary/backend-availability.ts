/**
 * Which backends are in, as the workers are told: active health check results with ejected
 * outliers marked out, one map pushed whole on every change (and to each new worker by the
 * supervisor). Owns the health checker and the outlier detector that feed it.
 */
import type { Logger } from '../shared/log.js';
import type { VelofluxConfig } from '../shared/config/schema.js';
import { HealthChecker } from './health-checker.js';
import { OutlierDetector } from './outlier-detector.js';

/** Where the map goes (Supervisor.broadcastHealth). */
export interface AvailabilityLink {
  broadcastHealth(healthy: Record<string, boolean>): void;
}

export class BackendAvailability {
  readonly checks: HealthChecker;
  readonly outliers: OutlierDetector;
  readonly #link: AvailabilityLink;

  constructor(link: AvailabilityLink, log: Logger) {
    this.#link = link;
    this.checks = new HealthChecker(log, () => this.#publish());
    this.outliers = new OutlierDetector(log, () => this.#publish());
  }

  /** Follows the config in force: checks start or stop, ejection settings change. */
  update(config: Readonly<VelofluxConfig>): void {
    this.checks.update(config);
    this.outliers.update(config);
  }

  stop(): void {
    this.checks.stop();
    this.outliers.stop();
  }

  #publish(): void {
    const available = this.checks.states();
    for (const id of this.outliers.ejected()) available[id] = false;
    this.#link.broadcastHealth(available);
  }
}
