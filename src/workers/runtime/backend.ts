import { PeakEwma } from '../balancers/peak-ewma.js';

/**
 * One upstream server as the current runtime sees it. The counters that must outlive a config
 * swap (in-flight, latency, failures) live in `BackendStats`, shared through the
 * BackendRegistry by backend id; everything else is rebuilt with each runtime.
 */
export class BackendStats {
  inFlight = 0;
  /** Exponentially weighted moving average of upstream latency in milliseconds (0 = no sample yet). */
  ewmaLatencyMs = 0;
  consecutiveFailures = 0;
  requests = 0;
  /** Latency cost for `algorithm: adaptive`; kept here so it survives a config swap like the rest. */
  readonly peakEwma = new PeakEwma();
}

export class Backend {
  readonly id: string;
  readonly url: URL;
  /** Position in the pool's backend list; balancers index their tables with it. */
  readonly index: number;
  readonly stats: BackendStats;
  weight: number;
  healthy = true;
  /** Drained by the operator: no new requests, in-flight ones finish. */
  drained = false;

  constructor(id: string, url: URL, weight: number, index: number, stats: BackendStats) {
    this.id = id;
    this.url = url;
    this.weight = weight;
    this.index = index;
    this.stats = stats;
  }

  /** A backend takes new requests only while healthy, not drained and with a positive weight. */
  get available(): boolean {
    return this.healthy && !this.drained && this.weight > 0;
  }
}
