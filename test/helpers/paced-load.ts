/**
 * Open-loop load for rate tests: requests are sent at a fixed total rate whatever the answers
 * (a closed loop would slow down when refused and under-offer), spread round-robin over
 * keep-alive connections to one or more VeloFlux instances. Counts answers by status (or error code).
 */
import { Agent, request } from 'node:http';

export interface PacedLoadOptions {
  /** Ports of the instances to spread the load over. */
  ports: number[];
  path: string;
  ratePerSecond: number;
  seconds: number;
  connectionsPerPort: number;
  headers?: Record<string, string>;
}

export interface PacedLoadResult {
  counts: Record<string, number>;
  sent: number;
  seconds: number;
  /** Answers with status 200 per second of sending (by when the request was sent), for steady-state rates. */
  okPerSecond: number[];
}

function get(port: number, path: string, agent: Agent, headers: Record<string, string> | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

export async function pacedLoad(options: PacedLoadOptions): Promise<PacedLoadResult> {
  const targets = options.ports.flatMap((port) => Array.from({ length: options.connectionsPerPort }, () => ({ port, agent: new Agent({ keepAlive: true, maxSockets: 1 }) })));
  const counts: Record<string, number> = {};
  const count = (key: string | number) => void (counts[key] = (counts[key] ?? 0) + 1);
  const okPerSecond = new Array<number>(Math.ceil(options.seconds)).fill(0);
  const total = Math.round(options.ratePerSecond * options.seconds);
  const pending: Promise<void>[] = [];
  const started = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const pacer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * options.ratePerSecond));
      for (; sent < due; sent++) {
        const target = targets[sent % targets.length]!;
        const second = Math.min(okPerSecond.length - 1, Math.floor(sent / options.ratePerSecond));
        pending.push(
          get(target.port, options.path, target.agent, options.headers).then(
            (status) => {
              count(status);
              if (status === 200) okPerSecond[second]!++;
            },
            (err: NodeJS.ErrnoException) => count(err.code ?? 'error'),
          ),
        );
      }
      if (sent >= total) {
        clearInterval(pacer);
        resolve();
      }
    }, 4);
  });
  await Promise.all(pending);
  for (const { agent } of targets) agent.destroy();
  return { counts, sent, seconds: (performance.now() - started) / 1000, okPerSecond };
}
