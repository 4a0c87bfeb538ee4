// Open-loop load at a fixed offered rate, for bench:balancing. Request i is due at start + i/rate
// whatever happened to the earlier ones (a closed loop, where each connection waits for its
// answer, slows down exactly when the target does and so hides the tail it should measure), and
// its latency is counted from when it was due, not from when it could be sent: time spent
// waiting for a free socket or behind a late pacer tick is latency too (no coordinated omission,
// in Gil Tene's sense, as wrk2 counts it).
import { Agent, request } from 'node:http';
import { LatencyHistogram } from './latency-histogram.js';

export interface OpenLoopOptions {
  readonly port: number;
  readonly path: string;
  readonly ratePerSecond: number;
  /** Sent but not measured: the first seconds, while caches, JIT and balancers warm up. */
  readonly warmupSeconds: number;
  readonly seconds: number;
  /** A request not answered within this is an error. */
  readonly timeoutMs: number;
}

export interface OpenLoopResult {
  /** Measured requests (due after the warm-up). */
  readonly sent: number;
  /** Measured requests answered 200 (their latencies are in `latency`). */
  readonly ok: number;
  /** Measured requests answered otherwise, failed or timed out. */
  readonly errors: number;
  readonly errorKinds: Record<string, number>;
  readonly latency: LatencyHistogram;
  /** Answered 200 per second of the measured window. */
  readonly okPerSecond: number;
}

/** Pacer tick: the shortest node timer; each tick sends every request that has fallen due. */
const TICK_MS = 1;

export async function openLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  // Enough sockets that the client is never what queues at these rates; kept alive across requests.
  const agent = new Agent({ keepAlive: true, maxSockets: 2048, maxFreeSockets: 2048 });
  const latency = new LatencyHistogram();
  const errorKinds: Record<string, number> = {};
  const intervalMs = 1000 / options.ratePerSecond;
  const warmupCount = Math.round(options.warmupSeconds * options.ratePerSecond);
  const total = warmupCount + Math.round(options.seconds * options.ratePerSecond);
  let ok = 0;
  let settled = 0;
  let next = 0;
  const start = performance.now();

  await new Promise<void>((resolve) => {
    const settle = (measured: boolean, dueAt: number, outcome: string): void => {
      if (measured) {
        if (outcome === '200') {
          ok++;
          latency.record(performance.now() - dueAt);
        } else {
          errorKinds[outcome] = (errorKinds[outcome] ?? 0) + 1;
        }
      }
      if (++settled === total) resolve();
    };
    const send = (index: number): void => {
      const dueAt = start + index * intervalMs;
      const measured = index >= warmupCount;
      let done = false;
      const once = (outcome: string): void => {
        if (done) return;
        done = true;
        settle(measured, dueAt, outcome);
      };
      const req = request({ host: '127.0.0.1', port: options.port, path: options.path, agent, timeout: options.timeoutMs }, (res) => {
        res.resume();
        res.once('end', () => once(String(res.statusCode)));
        res.once('error', () => once('response error'));
      });
      req.once('timeout', () => {
        once('timeout');
        req.destroy();
      });
      req.once('error', (err: NodeJS.ErrnoException) => once(err.code ?? 'error'));
      req.end();
    };
    const pacer = setInterval(() => {
      const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1);
      for (; next < due; next++) send(next);
      if (next >= total) clearInterval(pacer);
    }, TICK_MS);
  });
  agent.destroy();
  const errors = Object.values(errorKinds).reduce((a, b) => a + b, 0);
  return { sent: total - warmupCount, ok, errors, errorKinds, latency, okPerSecond: ok / options.seconds };
}
