/**
 * A backend's Peak-EWMA latency cost, as Finagle's `PeakEwma` load metric and Linkerd's
 * (tower `peak_ewma`) keep it: an exponentially weighted moving average of response times whose
 * weight comes from the time between samples (`w = exp(-Δt/τ)`), except that a sample above the
 * average replaces it at once; between samples it decays toward zero (`decayTo`). The peak is
 * believed at once and forgotten over about τ, so a backend that turns slow is avoided after its
 * first slow answer and tried again as the peak fades.
 *
 * One lives in each backend's `BackendStats`, per worker, so what was learned survives a config
 * swap. τ is the pool's (`adaptive.decay`), passed in, not stored: a reload may change it.
 */
export class PeakEwma {
  /** The cost in milliseconds as of `#stamp`; meaningless while `#stamp` is NaN (never started). */
  #cost = 0;
  /** performance.now() milliseconds of the last sample (or of the default); NaN until started. */
  #stamp = Number.NaN;

  /** Whether the cost has a value: a default given by `start` or a sample. */
  get started(): boolean {
    return !Number.isNaN(this.#stamp);
  }

  /**
   * Gives a backend with no history a default cost at `now` (Linkerd's default RTT), which then
   * decays like any cost: a new backend is not flooded, as a cost of 0 would have it, and is
   * tried more and more as the default fades, until its own answers set the cost.
   */
  start(defaultCostMs: number, now: number): void {
    this.#cost = defaultCostMs;
    this.#stamp = now;
  }

  /** A response took `rttMs`, ending at `now`. */
  observe(rttMs: number, now: number, tauMs: number): void {
    if (!this.started || rttMs > this.#cost) {
      this.#cost = rttMs;
    } else {
      // A clock that stepped back counts as no time passed (Finagle clamps Δt at 0 the same way).
      const w = Math.exp(-Math.max(now - this.#stamp, 0) / tauMs);
      this.#cost = this.#cost * w + rttMs * (1 - w);
    }
    this.#stamp = now;
  }

  /**
   * Decays the cost to `now` and returns it: a read counts as a sample of 0, as in Finagle's
   * `load` and tower's `RttEstimate::decay`. A backend that gets no answers (because it is
   * avoided) thus gets cheaper until it is tried again, which is how a recovered backend is
   * noticed; and an answer after a long silence is compared with the faded cost, so a backend
   * that is fast again is believed at once. Reading twice at one time changes nothing.
   */
  decayTo(now: number, tauMs: number): number {
    if (!this.started) return 0;
    this.observe(0, now, tauMs);
    return this.#cost;
  }
}
