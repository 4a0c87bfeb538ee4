import type { Backend } from '../runtime/backend.js';
import type { PeakEwmaOptions } from './balancer.js';
import { P2cBalancer } from './p2c.js';

/** Finagle's and Linkerd's defaults (linkerd2-proxy: EWMA default RTT 30 ms, decay 10 s). */
export const DEFAULT_PEAK_EWMA: Readonly<PeakEwmaOptions> = Object.freeze({ decayMs: 10_000, defaultRttMs: 30 });

/**
 * A faded cost is read as at least this much (1 µs), so in-flight counts still tell apart
 * backends idle long enough for their costs to underflow to 0; otherwise a backend holding
 * requests that never answer would tie with an idle one forever (Finagle adds a penalty there).
 */
const MIN_COST_MS = 0.001;

const monotonicNow = (): number => performance.now();

/**
 * `algorithm: adaptive`: power of two choices (p2c.ts) where a backend's load is its Peak-EWMA
 * latency cost times its in-flight requests plus one, per unit of weight. This is Finagle's
 * `Balancers.p2cPeakEwma` and Linkerd's default balancer: a backend that answers slowly, or
 * queues, draws less traffic within its first slow answers, and gets it back as its cost decays
 * and fresh answers show it fast again.
 *
 * Everything is per worker and in memory: costs are learned from the worker's own responses
 * (`onEnd`), kept in each backend's stats (so a config swap keeps them), and read at pick time;
 * a pick does two multiplications and an `exp` per drawn backend, and allocates nothing.
 */
export class AdaptiveBalancer extends P2cBalancer {
  readonly #tauMs: number;
  readonly #clock: () => number;

  /** `clock` is performance.now() in milliseconds; tests pass their own. */
  constructor(backends: readonly Backend[], options: PeakEwmaOptions = DEFAULT_PEAK_EWMA, clock: () => number = monotonicNow) {
    super(backends);
    if (!(options.decayMs > 0) || !(options.defaultRttMs > 0)) {
      throw new RangeError(`adaptive: decay and default RTT must be > 0, got ${options.decayMs} ms and ${options.defaultRttMs} ms`);
    }
    this.#tauMs = options.decayMs;
    this.#clock = clock;
    const now = clock();
    // Only backends new to this worker: one that was in the previous runtime keeps what it learned.
    for (const backend of backends) {
      if (!backend.stats.peakEwma.started) backend.stats.peakEwma.start(options.defaultRttMs, now);
    }
  }

  /** Load = cost × (in-flight + 1), compared per unit of weight by cross-multiplying; a tie keeps `a`. */
  protected override lessLoaded(a: Backend, b: Backend): Backend {
    const now = this.#clock();
    const loadA = this.costOf(a, now) * (a.stats.inFlight + 1);
    const loadB = this.costOf(b, now) * (b.stats.inFlight + 1);
    return loadB * a.weight < loadA * b.weight ? b : a;
  }

  /** `backend`'s cost in milliseconds, decayed to `now` as a pick reads it. */
  costOf(backend: Backend, now: number): number {
    return Math.max(backend.stats.peakEwma.decayTo(now, this.#tauMs), MIN_COST_MS);
  }

  /**
   * Every attempt's latency is a sample, whatever its outcome, as in Finagle: a timeout is a
   * large one. A backend failing fast looks fast here; keeping it out is the job of health
   * checks and outlier detection, which every algorithm obeys.
   */
  override onEnd(backend: Backend, latencyMs: number): void {
    if (latencyMs >= 0) backend.stats.peakEwma.observe(latencyMs, this.#clock(), this.#tauMs);
  }
}
