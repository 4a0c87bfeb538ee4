/**
 * Where the effective config comes from, and the precedence rules between the file and runtime
 * changes (documented in the README):
 *
 * 1. The base dynamic config (pools, routes, ...) is the file's, unless a whole config was PUT
 *    through the admin API against the same file content: then the PUT one is the base. "The same"
 *    compares a hash of the file's dynamic sections only (issue 13): hosts sharing Redis with their
 *    own `server` sections (ports, dataDir, workers) but the same pools and routes follow one PUT.
 *    A host whose file differs serves its file (and reports itself out of sync in /admin/nodes and
 *    /metrics), but never drops the PUT base from the shared state: only an explicit reload
 *    (POST /admin/reload, SIGHUP) of a changed file publishes the file as the new base for all.
 * 2. Runtime operations (drain, weight, add/remove backend) are an overlay re-applied on top of
 *    whichever base is in force, after every reload and restart. A PUT replaces the overlay,
 *    since its body is the complete desired state.
 * 3. `server` (static) always comes from the file; a change there needs a restart.
 *
 * Both the PUT base and the overlay are one record of the state store (embedded: written
 * atomically under `<dataDir>/state/`; redis: shared by every instance, which follow its changes).
 */
import { createHash } from 'node:crypto';
import { ConfigError, readConfigFile } from '../../shared/config/load.js';
import { emptyOverlay, applyOverlay, type DynamicInput, type RuntimeOverlay } from './runtime-overlay.js';

export interface ConfigFile {
  readonly path: string;
  /** Hash of the dynamic sections, canonical (key order and formatting do not count). */
  readonly hash: string;
  /** Hash of the whole text: how PUT bases were tied to a file before the hash above existed. */
  readonly textHash: string;
  /** `server` as written (env overrides are applied at validation). */
  readonly rawServer: unknown;
  readonly dynamic: DynamicInput;
}

export interface RuntimeState {
  /** A whole dynamic config PUT through the admin API, and the hash of the file it superseded. */
  apiBase: { dynamic: DynamicInput; fileHash: string } | null;
  overlay: RuntimeOverlay;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export async function readConfigSource(path: string): Promise<ConfigFile> {
  const { text, raw } = await readConfigFile(path);
  const object = (typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>;
  const dynamic: DynamicInput = {
    pools: (object.pools ?? []) as DynamicInput['pools'],
    routes: (object.routes ?? []) as DynamicInput['routes'],
    // Only when written, so a config without rate limits keeps the shape (and ETag) it had.
    ...(object.rateLimits !== undefined ? { rateLimits: object.rateLimits as DynamicInput['rateLimits'] } : {}),
    ...(object.backendPolicy !== undefined ? { backendPolicy: object.backendPolicy as DynamicInput['backendPolicy'] } : {}),
    ...(object.billing !== undefined ? { billing: object.billing as DynamicInput['billing'] } : {}),
    ...(object.security !== undefined ? { security: object.security as DynamicInput['security'] } : {}),
  };
  return { path, hash: sha256(canonicalJson(dynamic)), textHash: sha256(text), rawServer: object.server, dynamic };
}

/** JSON with object keys sorted at every level, so equal content hashes equal. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Where the runtime state lives in the state store (embedded: `<dataDir>/state/config.json`). */
export const RUNTIME_STATE_KEY = { namespace: 'config', id: 'runtime' } as const;

export const emptyRuntimeState = (): RuntimeState => ({ apiBase: null, overlay: emptyOverlay() });

/**
 * The runtime state from its stored record. A record that is not one is a ConfigError (a clear
 * message and exit 1 at start-up), never silently ignored: it holds changes an operator was told
 * were applied.
 */
export function parseRuntimeState(value: unknown, where: string): RuntimeState {
  const state = value as Partial<RuntimeState> | null;
  const overlay = state?.overlay as Partial<RuntimeOverlay> | undefined;
  const valid =
    typeof state === 'object' && state !== null &&
    (state.apiBase === null || (typeof state.apiBase === 'object' && typeof state.apiBase.fileHash === 'string' && typeof state.apiBase.dynamic === 'object')) &&
    typeof overlay === 'object' && overlay !== null && typeof overlay.backends === 'object' && Array.isArray(overlay.added) && Array.isArray(overlay.removed);
  if (!valid) {
    throw new ConfigError(where, [{ path: [], message: 'the runtime state record is malformed; it holds the runtime changes made through the admin API: fix it, or remove it to start from the config file alone' }]);
  }
  return { apiBase: state!.apiBase ?? null, overlay: { ...emptyOverlay(), ...overlay } };
}

/** The dynamic config in force for this file and state, and overlay entries that no longer apply. */
export function effectiveDynamic(file: ConfigFile, state: RuntimeState): { dynamic: DynamicInput; skipped: string[]; baseIsFile: boolean } {
  const baseIsFile = state.apiBase === null || (state.apiBase.fileHash !== file.hash && state.apiBase.fileHash !== file.textHash);
  const base = baseIsFile ? file.dynamic : state.apiBase!.dynamic;
  return { ...applyOverlay(base, state.overlay), baseIsFile };
}

/** Entity tag of a dynamic config: a content hash, so equal configs have equal tags. */
export function etagOf(dynamic: DynamicInput): string {
  return `"${sha256(JSON.stringify(dynamic)).slice(0, 20)}"`;
}
