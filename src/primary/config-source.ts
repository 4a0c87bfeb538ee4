/**
 * Where the effective config comes from, and the precedence rules between the file and runtime
 * changes (documented in the README):
 *
 * 1. The base dynamic config (pools, routes) is the file's, unless a whole config was PUT through
 *    the admin API since the file was last loaded (at start or by a reload): then the PUT one is
 *    the base. A reload or restart that finds the file changed since that load makes the file the
 *    base again (the newer intent wins). "Changed" means a different content hash, so an edit
 *    saved before the PUT but not yet reloaded also counts as newer.
 * 2. Runtime operations (drain, weight, add/remove backend) are an overlay re-applied on top of
 *    whichever base is in force, after every reload and restart. A PUT replaces the overlay,
 *    since its body is the complete desired state.
 * 3. `server` (static) always comes from the file; a change there needs a restart.
 *
 * Both the PUT base and the overlay live in `<dataDir>/runtime-state.json`, written atomically.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ConfigError, readConfigFile } from '../shared/config/load.js';
import { readFileIfExists, writeFileAtomic } from '../shared/atomic-file.js';
import { emptyOverlay, applyOverlay, type DynamicInput, type RuntimeOverlay } from './runtime-overlay.js';

export interface ConfigFile {
  readonly path: string;
  readonly hash: string;
  /** `server` as written (env overrides are applied at validation). */
  readonly rawServer: unknown;
  readonly dynamic: DynamicInput;
}

export interface RuntimeState {
  /** A whole dynamic config PUT through the admin API, and the hash of the file it superseded. */
  apiBase: { dynamic: DynamicInput; fileHash: string } | null;
  overlay: RuntimeOverlay;
}

const STATE_FORMAT = 1;

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export async function readConfigSource(path: string): Promise<ConfigFile> {
  const { text, raw } = await readConfigFile(path);
  const object = (typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>;
  return {
    path,
    hash: sha256(text),
    rawServer: object.server,
    dynamic: { pools: (object.pools ?? []) as DynamicInput['pools'], routes: (object.routes ?? []) as DynamicInput['routes'] },
  };
}

export function stateFilePath(dataDir: string): string {
  return join(dataDir, 'runtime-state.json');
}

/**
 * The persisted runtime state, or an empty one when there is none yet. A state file that cannot
 * be read or understood is a ConfigError (a clear message and exit 1 at start-up), never
 * silently ignored: it holds changes an operator was told were applied.
 */
export async function readRuntimeState(dataDir: string): Promise<RuntimeState> {
  const path = stateFilePath(dataDir);
  const unusable = (why: string) =>
    new ConfigError(path, [{ path: [], message: `${why}; it holds the runtime changes made through the admin API: fix it, or remove it to start from the config file alone` }]);
  let text: string | undefined;
  try {
    text = await readFileIfExists(path);
  } catch (err) {
    throw unusable(`cannot read the runtime state (${(err as Error).message})`);
  }
  if (text === undefined) return { apiBase: null, overlay: emptyOverlay() };
  let parsed: { format?: number } & Partial<RuntimeState>;
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (err) {
    throw unusable(`not valid JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || parsed.format !== STATE_FORMAT) throw unusable(`unknown format ${String((parsed as { format?: unknown } | null)?.format)}`);
  return { apiBase: parsed.apiBase ?? null, overlay: { ...emptyOverlay(), ...parsed.overlay } };
}

export async function writeRuntimeState(dataDir: string, state: RuntimeState): Promise<void> {
  await writeFileAtomic(stateFilePath(dataDir), `${JSON.stringify({ format: STATE_FORMAT, ...state }, null, 2)}\n`);
}

/** The dynamic config in force for this file and state, and overlay entries that no longer apply. */
export function effectiveDynamic(file: ConfigFile, state: RuntimeState): { dynamic: DynamicInput; skipped: string[]; baseIsFile: boolean } {
  const baseIsFile = state.apiBase === null || state.apiBase.fileHash !== file.hash;
  const base = baseIsFile ? file.dynamic : state.apiBase!.dynamic;
  return { ...applyOverlay(base, state.overlay), baseIsFile };
}

/** Entity tag of a dynamic config: a content hash, so equal configs have equal tags. */
export function etagOf(dynamic: DynamicInput): string {
  return `"${sha256(JSON.stringify(dynamic)).slice(0, 20)}"`;
}
