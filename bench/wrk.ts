// wrk as the load generator (the default when installed): C, epoll, one thread drives hundreds of
// keep-alive connections for a fraction of autocannon's CPU, which matters in per-core mode where
// the load generator shares CPU 0 with the origin. Results come from bench/wrk-report.lua.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { ChildRegistry } from './children.js';
import type { LoadResult } from './loadgen.js';

export interface WrkSpec {
  readonly url: string;
  readonly threads: number;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly cpu: number | undefined;
  /** `Name: value` headers sent with every request. */
  readonly headers?: readonly string[];
}

interface WrkReport {
  readonly requests: number;
  readonly durationUs: number;
  readonly bytes: number;
  readonly connect: number;
  readonly read: number;
  readonly write: number;
  readonly status: number;
  readonly timeout: number;
  readonly p50Us: number;
  readonly p99Us: number;
}

const SLACK_MS = 30_000;

export function wrkInstalled(): boolean {
  const which = spawnSync('which', ['wrk'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() !== '';
}

export async function runWrk(children: ChildRegistry, projectRoot: string, spec: WrkSpec): Promise<LoadResult> {
  const child = children.spawn({
    name: 'wrk',
    command: 'wrk',
    args: [
      ...['-t', String(spec.threads), '-c', String(spec.connections), '-d', `${spec.durationSeconds}s`],
      ...(spec.headers ?? []).flatMap((header) => ['-H', header]),
      ...['--timeout', '10s', '-s', join(projectRoot, 'bench', 'wrk-report.lua'), spec.url],
    ],
    cpu: spec.cpu,
  });
  try {
    const r = await child.waitForJsonLine(
      (msg) => (msg['event'] === 'result' ? (msg as unknown as WrkReport) : undefined),
      spec.durationSeconds * 1000 + SLACK_MS,
    );
    const seconds = r.durationUs / 1e6;
    return {
      rps: r.requests / seconds,
      requests: r.requests,
      bytesPerSecond: r.bytes / seconds,
      p50Ms: r.p50Us / 1000,
      p99Ms: r.p99Us / 1000,
      errors: r.connect + r.read + r.write,
      timeouts: r.timeout,
      // wrk counts status >= 400 only; the origin answers 200 or 404, so nothing is missed here.
      non2xx: r.status,
    };
  } finally {
    await children.stop(child);
  }
}
