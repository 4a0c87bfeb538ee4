/**
 * This worker's WebSocket counters: tunnels opened, active and closed, how long they lived, and
 * messages and bytes per direction. Tunnels add to them as they go; the stats reporter reads a
 * snapshot once a second. Totals since the worker started, never reset.
 */
import type { WebSocketStatsReport } from '../../shared/ipc.js';
import type { DirectionTotals } from '../websocket/websocket-frame-counter.js';

/** Upper bounds (seconds) of the lifetime histogram: from a quick exchange to a long session. */
const DURATION_BUCKETS_SECONDS = [1, 5, 30, 60, 300, 1800, 3600, 14400] as const;

export class WebSocketStats {
  opened = 0;
  closed = 0;
  /** Client to backend. */
  readonly received: DirectionTotals = { messages: 0, bytes: 0 };
  /** Backend to client. */
  readonly sent: DirectionTotals = { messages: 0, bytes: 0 };
  #durationSum = 0;
  /** Per bucket, not cumulative; the last slot is +Inf. */
  readonly #durationCounts = new Array<number>(DURATION_BUCKETS_SECONDS.length + 1).fill(0);

  recordClose(durationSeconds: number): void {
    this.closed++;
    this.#durationSum += durationSeconds;
    let bucket = 0;
    while (bucket < DURATION_BUCKETS_SECONDS.length && durationSeconds > DURATION_BUCKETS_SECONDS[bucket]!) bucket++;
    this.#durationCounts[bucket]!++;
  }

  report(): WebSocketStatsReport {
    let cumulative = 0;
    const buckets = DURATION_BUCKETS_SECONDS.map((le, i) => ({ le, count: (cumulative += this.#durationCounts[i]!) }));
    return {
      opened: this.opened,
      active: this.opened - this.closed,
      closed: this.closed,
      durationSeconds: { sum: Math.round(this.#durationSum * 1000) / 1000, count: this.closed, buckets },
      received: { ...this.received },
      sent: { ...this.sent },
    };
  }
}

