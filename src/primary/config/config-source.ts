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
 * Both the PUT base and the overlay are one record of the state store (embedded: written
 * atomically under `<dataDir>/state/`; redis: shared by every instance, which follow its changes).
 */
import { createHash } from 'node:crypto';
import { ConfigError, readConfigFile } from '../../shared/config/load.js';
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
    dynamic: {
      pools: (object.pools ?? []) as DynamicInput['pools'],
      routes: (object.routes ?? []) as DynamicInput['routes'],
      // Only when written, so a config without rate limits keeps the shape (and ETag) it had.
      ...(object.rateLimits !== undefined ? { rateLimits: object.rateLimits as DynamicInput['rateLimits'] } : {}),
      ...(object.backendPolicy !== undefined ? { backendPolicy: object.backendPolicy as DynamicInput['backendPolicy'] } : {}),
      ...(object.billing !== undefined ? { billing: object.billing as DynamicInput['billing'] } : {}),
      ...(object.security !== undefined ? { security: object.security as DynamicInput['security'] } : {}),
    },
  };
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
  const baseIsFile = state.apiBase === null || state.apiBase.fileHash !== file.hash;
  const base = baseIsFile ? file.dynamic : state.apiBase!.dynamic;
  return { ...applyOverlay(base, state.overlay), baseIsFile };
}

/** Entity tag of a dynamic config: a content hash, so equal configs have equal tags. */
export function etagOf(dynamic: DynamicInput): string {
  return `"${sha256(JSON.stringify(dynamic)).slice(0, 20)}"`;
}
