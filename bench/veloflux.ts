// VeloFlux as a target: locates the built CLI and writes a one-pool, one-route config whose
// other listeners take free ports (port 0), so a benchmark never collides with a running instance.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

export class VelofluxMissingError extends Error {
  override readonly name = 'VelofluxMissingError';
}

export function findVelofluxCli(projectRoot: string): string {
  const cli = join(projectRoot, 'dist', 'src', 'cli.js');
  if (!existsSync(cli)) {
    throw new VelofluxMissingError(
      `VeloFlux CLI not found at ${cli}: run \`npm run build\` (src/cli.ts must exist and compile), ` +
        'or leave veloflux out with --targets direct,nginx,fastify',
    );
  }
  return cli;
}

export interface VelofluxConfigSpec {
  readonly dir: string;
  readonly port: number;
  readonly originPort: number;
  readonly workers: number | 'auto';
  /** Put the route behind a rate limit policy whose limit is never reached (the cost of checking it). */
  readonly rateLimit?: boolean;
  /** Put the route in `security: block` (the filter's cost on requests that pass it). */
  readonly security?: boolean;
  /** Make a tenant own the route, on a plan whose requests/s is never reached (the tenant stage's cost). */
  readonly tenant?: boolean;
}

/** Far above anything one machine can send, so every request is checked and none refused. */
const NEVER_REACHED = 1_000_000_000;

/** Writes `<dir>/veloflux.yaml` and returns its path. */
export function writeVelofluxConfig(spec: VelofluxConfigSpec): string {
  const dataDir = join(spec.dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const config = {
    server: {
      workers: spec.workers,
      http: { port: spec.port, host: '127.0.0.1' },
      api: { port: 0 },
      admin: { port: 0 },
      metrics: { port: 0 },
      dashboard: { port: 0 },
      dataDir,
    },
    pools: [
      {
        name: 'origin',
        algorithm: 'round_robin',
        backends: [{ id: 'origin-1', url: `http://127.0.0.1:${spec.originPort}` }],
      },
    ],
    routes: [
      {
        host: '*',
        path: '/',
        pool: 'origin',
        ...(spec.rateLimit === true ? { rateLimit: 'bench' } : {}),
        ...(spec.security === true ? { security: { mode: 'block' } } : {}),
        ...(spec.tenant === true ? { tenant: 'bench' } : {}),
      },
    ],
    ...(spec.tenant === true ? { billing: { defaultPlan: 'bench', plans: [{ id: 'bench', name: 'Bench', limits: { requestsPerSecond: NEVER_REACHED, burst: NEVER_REACHED } }] } } : {}),
    ...(spec.rateLimit === true ? { rateLimits: [{ name: 'bench', key: 'ip', rate: NEVER_REACHED, burst: NEVER_REACHED }] } : {}),
  };
  const path = join(spec.dir, 'veloflux.yaml');
  writeFileSync(path, `# Written by bench/veloflux.ts for one benchmark run.\n${stringify(config)}`);
  return path;
}
