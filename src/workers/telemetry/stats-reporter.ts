/**
 * Reports this worker's counters to the primary once a second (observations flow up on their
 * own messages). Read from the counters the request path already keeps; nothing per request.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Server } from 'node:http';
import type { WorkerStats } from '../../shared/ipc.js';
import type { ProxyHandler } from '../proxy/proxy-handler.js';
import type { Telemetry } from './telemetry.js';

const INTERVAL_MS = 1000;
/** The histogram samples every RESOLUTION_MS, so an idle loop reads as this much "delay". */
const RESOLUTION_MS = 10;

export class StatsReporter {
  readonly #lag = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  #connections = 0;
  #timer: NodeJS.Timeout | undefined;

  readonly #telemetry: Telemetry;

  constructor(server: Server, handler: ProxyHandler, telemetry: Telemetry, send: (stats: WorkerStats) => void) {
    this.#telemetry = telemetry;
    server.on('connection', (socket) => {
      this.#connections++;
      socket.once('close', () => this.#connections--);
    });
    this.#lag.enable();
    this.#timer = setInterval(() => send(this.#collect(handler)), INTERVAL_MS);
    this.#timer.unref();
  }

  #collect(handler: ProxyHandler): WorkerStats {
    const runtime = handler.runtime;
    const memory = process.memoryUsage();
    const stats: WorkerStats = {
      configVersion: runtime.version,
      requests: handler.requests,
      activeConnections: this.#connections,
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      eventLoopLagMs: {
        mean: lagMs(this.#lag.mean),
        p99: lagMs(this.#lag.percentile(99)),
        max: lagMs(this.#lag.max),
      },
      backends: runtime.pools.flatMap((pool) =>
        pool.backends.map((b) => ({
          id: b.id,
          pool: pool.name,
          inFlight: b.stats.inFlight,
          requests: b.stats.requests,
          ewmaLatencyMs: round(b.stats.ewmaLatencyMs),
          consecutiveFailures: b.stats.consecutiveFailures,
        })),
      ),
      websockets: this.#telemetry.websockets.report(),
      http: this.#telemetry.requests.report(),
    };
    this.#lag.reset();
    return stats;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#lag.disable();
  }
}

const round = (n: number) => (Number.isFinite(n) ? Math.round(n * 100) / 100 : 0);
const lagMs = (nanoseconds: number) => round(Math.max(0, nanoseconds / 1e6 - RESOLUTION_MS));
