// Latency percentiles at microsecond resolution. autocannon's own histogram keeps whole
// milliseconds, which turns a proxy's p50 on loopback into 0 or 1 and hides the differences
// this harness exists to measure.

const FINE_LIMIT_US = 100_000; // 1 µs buckets below 100 ms
const COARSE_STEP_US = 100; // 100 µs buckets from 100 ms ...
const COARSE_LIMIT_US = 10_000_000; // ... to 10 s (autocannon's request timeout); above is clamped
const BUCKETS = FINE_LIMIT_US + (COARSE_LIMIT_US - FINE_LIMIT_US) / COARSE_STEP_US;

export class LatencyHistogram {
  #counts = new Uint32Array(BUCKETS);
  #total = 0;

  record(milliseconds: number): void {
    const us = Math.max(0, Math.round(milliseconds * 1000));
    const bucket =
      us < FINE_LIMIT_US
        ? us
        : Math.min(BUCKETS - 1, FINE_LIMIT_US + Math.floor((us - FINE_LIMIT_US) / COARSE_STEP_US));
    this.#counts[bucket]! += 1;
    this.#total += 1;
  }

  get count(): number {
    return this.#total;
  }

  /** The latency in milliseconds below which `p` percent of the recorded values fall. */
  percentile(p: number): number {
    if (this.#total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#total));
    let seen = 0;
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      seen += this.#counts[bucket]!;
      if (seen >= rank) return bucketToUs(bucket) / 1000;
    }
    return COARSE_LIMIT_US / 1000;
  }
}

function bucketToUs(bucket: number): number {
  return bucket < FINE_LIMIT_US ? bucket : FINE_LIMIT_US + (bucket - FINE_LIMIT_US) * COARSE_STEP_US;
}
