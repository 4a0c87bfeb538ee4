/**
 * Turns a YAML file (or an already parsed object) into a validated, deep-frozen config: env
 * overrides applied, defaults filled, durations in milliseconds, every problem collected with its
 * path. This runs once, in the primary; workers receive the frozen result.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { LineCounter, parseDocument } from 'yaml';
import { configSchema, type VelofluxConfig } from './schema.js';
import { checkReferences } from './references.js';
import { checkFiles } from './files.js';
import type { ConfigProblem } from './problems.js';
import { ConfigError } from '../errors.js';

// ConfigError lives in the error catalogue (shared/errors.ts); re-exported for the loaders' callers.
export { ConfigError };

/** Environment variables that override a config path (DESIGN.md §2). */
const ENV_OVERRIDES: readonly [string, readonly string[], 'int' | 'workers' | 'string'][] = [
  ['VELOFLUX_WORKERS', ['server', 'workers'], 'workers'],
  ['VELOFLUX_HTTP_PORT', ['server', 'http', 'port'], 'int'],
  ['VELOFLUX_API_PORT', ['server', 'api', 'port'], 'int'],
  ['VELOFLUX_ADMIN_PORT', ['server', 'admin', 'port'], 'int'],
  ['VELOFLUX_METRICS_PORT', ['server', 'metrics', 'port'], 'int'],
  ['VELOFLUX_DASHBOARD_PORT', ['server', 'dashboard', 'port'], 'int'],
  ['VELOFLUX_REDIS_URL', ['server', 'redis', 'url'], 'string'],
];

function applyEnvOverrides(raw: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const root = structuredClone(raw) as Record<string, unknown>;
  for (const [name, path, kind] of ENV_OVERRIDES) {
    const text = env[name];
    if (text === undefined || text === '') continue;
    // Non-numeric text is passed through as-is so validation reports it at the config path.
    const value = kind === 'string' || (kind === 'workers' && text === 'auto') || !/^\d+$/.test(text) ? text : Number(text);
    let node = root;
    for (const key of path.slice(0, -1)) {
      if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = value;
  }
  return root;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Validates a parsed config object; throws ConfigError listing every problem. */
export function validateConfig(raw: unknown, source = 'config', env: NodeJS.ProcessEnv = process.env): Readonly<VelofluxConfig> {
  const input = applyEnvOverrides(raw ?? {}, env);
  const result = configSchema.safeParse(input);
  const problems: ConfigProblem[] = result.success
    ? []
    : result.error.issues.map((issue) => ({
        path: issue.path as (string | number)[],
        message: issue.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message,
      }));
  problems.push(...checkReferences(input));
  if (!result.success || problems.length > 0) throw new ConfigError(source, problems);
  const config = result.data;
  const fileProblems = checkFiles(config);
  if (fileProblems.length > 0) throw new ConfigError(source, fileProblems);
  if (config.server.workers === 'auto') config.server.workers = availableParallelism();
  return deepFreeze(config);
}

/** Parses YAML text; syntax errors become problems with line and column. */
export function parseConfigText(text: string, source: string): unknown {
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => {
        const { line, col } = lines.linePos(e.pos[0]);
        return { path: [], message: `YAML ${e.code} at line ${line}, column ${col}: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  return doc.toJS();
}

/** Reads and parses a config file without validating it; returns the text too (for change detection). */
export async function readConfigFile(path: string): Promise<{ text: string; raw: unknown }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [{ path: [], message: `cannot read file: ${(err as Error).message}` }]);
  }
  return { text, raw: parseConfigText(text, path) };
}

export async function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Promise<Readonly<VelofluxConfig>> {
  return validateConfig((await readConfigFile(path)).raw, path, env);
}
