/**
 * Starts a real VeloFlux (`node dist/src/cli.js`) with a config written to a temp dir, on port 0,
 * and waits for the primary's "veloflux ready" log line, which carries the bound port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));

/** The admin token every test instance gets (VELOFLUX_ADMIN_TOKEN), unless a test overrides it. */
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

/** The first API admin of every test instance (VELOFLUX_ADMIN_EMAIL / VELOFLUX_ADMIN_PASSWORD). */
export const TEST_API_ADMIN = { email: 'admin@test.local', password: 'test-admin-password-0123' } as const;

/** The API token signing secret every test instance gets (VELOFLUX_JWT_SECRET), so instances sharing Redis accept each other's tokens. */
export const TEST_JWT_SECRET = 'test-jwt-secret-0123456789abcdef0123456789abcdef';

export interface RunningVeloflux {
  readonly port: number;
  /** The bound HTTPS port, when the config has `server.https`. */
  readonly httpsPort: number | undefined;
  readonly url: string;
  readonly adminPort: number;
  /** http://127.0.0.1:<adminPort> */
  readonly adminUrl: string;
  readonly apiPort: number;
  /** http://127.0.0.1:<apiPort>: the main API. */
  readonly apiUrl: string;
  readonly dashboardPort: number;
  /** http://127.0.0.1:<dashboardPort>: the web app, with /api/ forwarded to the main API. */
  readonly dashboardUrl: string;
  /** fetch() against the admin API with the test token; `init.headers` are added. */
  admin(path: string, init?: RequestInit): Promise<Response>;
  readonly process: ChildProcess;
  readonly configFile: string;
  /** Everything the process wrote so far (stdout then stderr interleaved as received). */
  output(): string;
  /** JSON log lines parsed from stdout. */
  logs(): Record<string, unknown>[];
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  workers?: number;
  env?: NodeJS.ProcessEnv;
  execPath?: string;
  readyTimeoutMs?: number;
}

/** `config` is the whole YAML object; server.http/port and the other listeners default to port 0. */
export function writeConfig(config: Record<string, unknown>, options: StartOptions = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'veloflux-test-'));
  const server = (config.server ?? {}) as Record<string, unknown>;
  const full = {
    ...config,
    server: {
      workers: options.workers ?? 1,
      http: { port: 0, host: '127.0.0.1' },
      api: { port: 0, host: '127.0.0.1' },
      admin: { port: 0, host: '127.0.0.1' },
      metrics: { port: 0, host: '127.0.0.1' },
      dashboard: { port: 0, host: '127.0.0.1' },
      dataDir: join(dir, 'data'),
      ...server,
    },
  };
  const file = join(dir, 'veloflux.yaml');
  writeFileSync(file, stringify(full));
  return file;
}

export async function startVeloflux(config: Record<string, unknown>, options: StartOptions = {}): Promise<RunningVeloflux> {
  return launchVeloflux(writeConfig(config, options), options);
}

/** Starts the CLI on an existing config file: a second run finds what the first persisted under its dataDir. */
export async function launchVeloflux(configFile: string, options: StartOptions = {}): Promise<RunningVeloflux> {
  const child = spawn(options.execPath ?? process.execPath, [CLI, '--config', configFile], {
    env: { ...process.env, VELOFLUX_LOG_LEVEL: 'info', VELOFLUX_ADMIN_TOKEN: TEST_ADMIN_TOKEN, VELOFLUX_JWT_SECRET: TEST_JWT_SECRET, VELOFLUX_ADMIN_EMAIL: TEST_API_ADMIN.email, VELOFLUX_ADMIN_PASSWORD: TEST_API_ADMIN.password, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d;
    stdout += d;
  });
  child.stderr!.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const logs = () =>
    stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  const { port, adminPort, apiPort, dashboardPort, httpsPort } = await new Promise<{ port: number; adminPort: number; apiPort: number; dashboardPort: number; httpsPort: number | undefined }>((resolve, reject) => {
    const timer = setTimeout(() => {
      clearInterval(poll);
      // Not left running behind a failed test (its workers go with it: they stop when the primary is gone).
      child.kill('SIGKILL');
      reject(new Error(`VeloFlux not ready in time:\n${out}`));
    }, options.readyTimeoutMs ?? 15_000);
    const poll = setInterval(() => {
      const ready = logs().find((l) => l.msg === 'veloflux ready');
      if (ready !== undefined) {
        clearInterval(poll);
        clearTimeout(timer);
        resolve({
          port: (ready.http as { port: number }).port,
          adminPort: (ready.admin as { port: number }).port,
          apiPort: (ready.api as { port: number }).port,
          dashboardPort: (ready.dashboard as { port: number }).port,
          httpsPort: (ready.https as { port: number } | undefined)?.port,
        });
      }
    }, 20);
    void exited.then((code) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`VeloFlux exited with ${code} before ready:\n${out}`));
    });
  });

  const adminUrl = `http://127.0.0.1:${adminPort}`;
  return {
    port,
    httpsPort,
    url: `http://127.0.0.1:${port}`,
    adminPort,
    adminUrl,
    apiPort,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    dashboardPort,
    dashboardUrl: `http://127.0.0.1:${dashboardPort}`,
    admin: (path, init = {}) =>
      fetch(`${adminUrl}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...(init.headers as Record<string, string> | undefined) },
      }),
    process: child,
    configFile,
    output: () => out,
    logs,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Env for startVeloflux that makes worker 1 refuse any change with a pool named `pool`, through
 * the test-side fault injection in refuse-snapshot.mjs (production code has no such hook).
 */
export function refusingWorker1(pool: string): NodeJS.ProcessEnv {
  const preload = fileURLToPath(new URL('./refuse-snapshot.mjs', import.meta.url));
  return { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${preload}`.trim(), VELOFLUX_TEST_REFUSE_POOL: pool };
}
