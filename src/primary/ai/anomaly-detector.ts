/**
 * Per-backend anomaly detection (issue 18): every second, each backend's mean latency over the
 * last few seconds and its error rate over the last ten are scored with the robust z-score
 * (robust-z.ts) against the backend's own recent seconds. An anomaly starts when the score passes
 * OUTLIER_SCORE and the change also matters in absolute terms (a loopback backend's latency
 * spread is microseconds, so a 3 ms GC pause would otherwise score huge); it ends after
 * QUIET_SECONDS without that. While one lasts, its seconds do not enter the reference, so a
 * backend that stays slow stays anomalous instead of becoming the new normal within a minute.
 */
import { randomUUID } from 'node:crypto';
import type { AiAnomaly } from '../../shared/ai-api.js';
import { OUTLIER_SCORE, robustScale, robustZ } from './robust-z.js';
import type { TrafficCounts } from './traffic-counts.js';

/** Seconds of history a backend is compared with. */
const REFERENCE_SECONDS = 120;
/** Seconds of reference needed before anything is scored. */
const MIN_REFERENCE = 15;
const LATENCY_WINDOW_S = 3;
const ERROR_WINDOW_S = 10;
/** Latency: also at least twice the usual and this much above it. */
const MIN_LATENCY_RISE_MS = 25;
/** Error rate: at least this rate and this many errors in the window. */
const MIN_ERROR_RATE = 0.05;
const MIN_ERRORS = 5;
const QUIET_SECONDS = 5;
/** A constant reference gives an infinite score; the API shows this instead. */
const MAX_SCORE = 1000;

interface Second {
  readonly at: number;
  readonly requests: number;
  readonly errors: number;
  readonly latencySum: number;
  readonly latencyCount: number;
  /** Taken while an anomaly of this backend lasted: kept out of the reference. */
  readonly disturbed: boolean;
}

interface Watch {
  kind: AiAnomaly['kind'];
  active: AiAnomaly | undefined;
  quiet: number;
}

interface BackendState {
  previous: TrafficCounts;
  seconds: Second[];
  latency: Watch;
  errors: Watch;
}

export interface AnomalyDetectorOptions {
  /** The pool a backend belongs to in the config in force (undefined: no longer configured). */
  readonly poolOf: (backendId: string) => string | undefined;
  /** Called when an anomaly starts and when it ends (with endedAt). */
  readonly onEvent: (anomaly: AiAnomaly) => void;
}

export class AnomalyDetector {
  readonly #options: AnomalyDetectorOptions;
  readonly #backends = new Map<string, BackendState>();

  constructor(options: AnomalyDetectorOptions) {
    this.#options = options;
  }

  /** Anomalies going on now. */
  active(): AiAnomaly[] {
    const out: AiAnomaly[] = [];
    for (const b of this.#backends.values()) for (const w of [b.latency, b.errors]) if (w.active !== undefined) out.push({ ...w.active });
    return out;
  }

  /** `counts` are cumulative (traffic-counts.ts); only `backend:` keys are read. */
  observe(now: number, counts: ReadonlyMap<string, TrafficCounts>): void {
    for (const [key, c] of counts) {
      if (!key.startsWith('backend:')) continue;
      const id = key.slice('backend:'.length);
      const pool = this.#options.poolOf(id);
      let state = this.#backends.get(id);
      if (pool === undefined) {
        if (state !== undefined) this.#forget(id, state, now);
        continue;
      }
      if (state === undefined) {
        this.#backends.set(id, { previous: { ...c }, seconds: [], latency: { kind: 'backend_latency', active: undefined, quiet: 0 }, errors: { kind: 'backend_error_rate', active: undefined, quiet: 0 } });
        continue;
      }
      const p = state.previous;
      const second: Second = {
        at: now,
        requests: Math.max(0, c.requests - p.requests),
        errors: Math.max(0, c.errors - p.errors),
        latencySum: Math.max(0, c.durationSum - p.durationSum),
        latencyCount: Math.max(0, c.durationCount - p.durationCount),
        disturbed: state.latency.active !== undefined || state.errors.active !== undefined,
      };
      state.previous = { ...c };
      state.seconds.push(second);
      while (state.seconds.length > 0 && state.seconds[0]!.at <= now - REFERENCE_SECONDS * 1000) state.seconds.shift();
      this.#judge(state.latency, id, pool, now, this.#latency(state.seconds, now));
      this.#judge(state.errors, id, pool, now, this.#errorRate(state.seconds, now));
    }
  }

  /** Mean latency (ms) of the last seconds against the earlier seconds' means. */
  #latency(seconds: readonly Second[], now: number): Finding | undefined {
    const since = now - LATENCY_WINDOW_S * 1000;
    let sum = 0;
    let count = 0;
    const reference: number[] = [];
    for (const s of seconds) {
      if (s.at > since) {
        sum += s.latencySum;
        count += s.latencyCount;
      } else if (!s.disturbed && s.latencyCount > 0) reference.push((1000 * s.latencySum) / s.latencyCount);
    }
    if (count < 3 || reference.length < MIN_REFERENCE) return undefined;
    const observed = (1000 * sum) / count;
    const scale = robustScale(reference);
    const score = robustZ(observed, scale);
    const anomalous = score > OUTLIER_SCORE && observed > 2 * scale.median && observed - scale.median > MIN_LATENCY_RISE_MS;
    return { anomalous, observed, expected: scale.median, score, unit: 'ms' };
  }

  /** Error rate of the last ten seconds against the earlier seconds' rates. */
  #errorRate(seconds: readonly Second[], now: number): Finding | undefined {
    const since = now - ERROR_WINDOW_S * 1000;
    let requests = 0;
    let errors = 0;
    const reference: number[] = [];
    for (const s of seconds) {
      if (s.at > since) {
        requests += s.requests;
        errors += s.errors;
      } else if (!s.disturbed && s.requests > 0) reference.push(s.errors / s.requests);
    }
    if (requests === 0 || reference.length < MIN_REFERENCE) return undefined;
    const observed = errors / requests;
    const scale = robustScale(reference);
    const score = robustZ(observed, scale);
    const anomalous = score > OUTLIER_SCORE && errors >= MIN_ERRORS && observed >= MIN_ERROR_RATE;
    return { anomalous, observed, expected: scale.median, score, unit: 'ratio' };
  }

  #judge(watch: Watch, backend: string, pool: string, now: number, finding: Finding | undefined): void {
    if (finding?.anomalous === true) {
      watch.quiet = 0;
      if (watch.active === undefined) {
        watch.active = { id: randomUUID(), kind: watch.kind, pool, backend, since: new Date(now).toISOString(), ...measured(finding) };
        this.#options.onEvent({ ...watch.active });
      } else Object.assign(watch.active, measured(finding));
      return;
    }
    if (watch.active === undefined) return;
    // No finding (too little traffic to judge) does not end it; a quiet second does, after a few.
    if (finding !== undefined && ++watch.quiet >= QUIET_SECONDS) this.#end(watch, now);
  }

  #end(watch: Watch, now: number): void {
    const ended = { ...watch.active!, endedAt: new Date(now).toISOString() };
    watch.active = undefined;
    watch.quiet = 0;
    this.#options.onEvent(ended);
  }

  #forget(id: string, state: BackendState, now: number): void {
    for (const w of [state.latency, state.errors]) if (w.active !== undefined) this.#end(w, now);
    this.#backends.delete(id);
  }
}

interface Finding {
  anomalous: boolean;
  observed: number;
  expected: number;
  score: number;
  unit: AiAnomaly['unit'];
}

function measured(f: Finding): Pick<AiAnomaly, 'observed' | 'expected' | 'score' | 'unit'> {
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return { observed: round(f.observed), expected: round(f.expected), score: round(Math.max(-MAX_SCORE, Math.min(MAX_SCORE, f.score))), unit: f.unit };
}
