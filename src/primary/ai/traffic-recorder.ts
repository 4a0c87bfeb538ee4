/**
 * Reads the cluster's cumulative traffic counters once a second and hands them on: to the minute
 * bucketer, whose closed minutes go to the series store (when this instance is the writer), and
 * to whoever watches every second (the anomaly detector). One timer, no I/O per request.
 */
import type { Logger } from '../../shared/log.js';
import { MinuteBucketer, type ClosedMinute } from './minute-bucketer.js';
import type { SeriesStore } from './series-store.js';
import type { TrafficCounts } from './traffic-counts.js';

export interface TrafficRecorderOptions {
  readonly counts: () => Map<string, TrafficCounts>;
  readonly series: SeriesStore;
  /** Embedded: always; Redis: the leader only (one writer per series). */
  readonly isWriter: () => boolean;
  readonly log: Logger;
  readonly onSecond?: (now: number, counts: ReadonlyMap<string, TrafficCounts>) => void;
  readonly onMinute?: (closed: readonly ClosedMinute[]) => void;
}

export class TrafficRecorder {
  readonly #options: TrafficRecorderOptions;
  readonly #bucketer = new MinuteBucketer();
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(options: TrafficRecorderOptions) {
    this.#options = options;
  }

  start(intervalMs = 1000): void {
    this.#timer ??= setInterval(() => this.tick(Date.now()), intervalMs);
    this.#timer.unref();
  }

  stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    return this.#writing;
  }

  tick(now: number): void {
    const { counts, series, isWriter, log, onSecond, onMinute } = this.#options;
    let current: Map<string, TrafficCounts>;
    try {
      current = counts();
    } catch (err) {
      log.error({ err }, 'could not read the traffic counters for the AI series');
      return;
    }
    onSecond?.(now, current);
    const closed = this.#bucketer.observe(now, current);
    if (closed.length === 0) return;
    onMinute?.(closed);
    if (!isWriter()) return;
    // Writes queue behind each other: a slow store never has two appends of one key racing.
    this.#writing = this.#writing
      .then(() => series.append(closed.filter((c) => !c.key.startsWith('backend:')), now))
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'could not store the minute of traffic series; it is lost'));
  }
}
