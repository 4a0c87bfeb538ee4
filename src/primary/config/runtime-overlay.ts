/**
 * Runtime changes made through the admin API (drain, weight, add/remove a backend), kept as an
 * overlay that is re-applied on top of the base config after every reload, so a file reload never
 * loses them (HAProxy's runtime API does; we must not). Pure functions over plain JSON.
 */
import type { AddressCheckRequest } from './backend-address-check.js';

export interface BackendInput {
  id: string;
  url: string;
  weight?: number;
  drain?: boolean;
  [key: string]: unknown;
}

/** The dynamic part of the config as written (durations still strings), the admin API's currency. */
export interface DynamicInput {
  pools: { name: string; backends: BackendInput[]; [key: string]: unknown }[];
  routes: Record<string, unknown>[];
  rateLimits?: Record<string, unknown>[];
  backendPolicy?: Record<string, unknown>;
  billing?: Record<string, unknown>;
  security?: Record<string, unknown>;
}

export interface RuntimeOverlay {
  /** Per-backend settings by backend id. */
  backends: Record<string, { drain?: boolean; weight?: number }>;
  /** Backends added at runtime, with the pool they were added to. */
  added: { pool: string; backend: BackendInput }[];
  /** Ids of backends removed at runtime. */
  removed: string[];
}

export const emptyOverlay = (): RuntimeOverlay => ({ backends: {}, added: [], removed: [] });

export function isOverlayEmpty(overlay: RuntimeOverlay): boolean {
  return Object.keys(overlay.backends).length === 0 && overlay.added.length === 0 && overlay.removed.length === 0;
}

/**
 * The base with the overlay applied. Entries that no longer fit the base (their backend or pool
 * was removed from the file, or the file now defines an added id itself) are skipped and named in
 * `skipped`, so a reload can report them instead of failing.
 */
export function applyOverlay(base: DynamicInput, overlay: RuntimeOverlay): { dynamic: DynamicInput; skipped: string[] } {
  const dynamic = structuredClone(base);
  const skipped: string[] = [];
  const removed = new Set(overlay.removed);
  for (const pool of poolsOf(dynamic)) pool.backends = pool.backends.filter((b) => !isObject(b) || !removed.has(b.id));
  for (const id of removed) {
    if (findBackend(base, id) === undefined) skipped.push(`remove backend "${id}": not in the base config`);
  }
  for (const { pool: poolName, backend } of overlay.added) {
    const pool = poolsOf(dynamic).find((p) => p.name === poolName);
    if (pool === undefined) skipped.push(`add backend "${backend.id}": pool "${poolName}" is no longer configured`);
    else if (findBackend(dynamic, backend.id) !== undefined) skipped.push(`add backend "${backend.id}": the base config now defines it`);
    else pool.backends.push(structuredClone(backend));
  }
  for (const [id, settings] of Object.entries(overlay.backends)) {
    const backend = findBackend(dynamic, id);
    if (backend === undefined) {
      skipped.push(`settings for backend "${id}": no such backend any more`);
      continue;
    }
    if (settings.weight !== undefined) backend.weight = settings.weight;
    if (settings.drain !== undefined) backend.drain = settings.drain;
  }
  return { dynamic, skipped };
}

/**
 * The pools the overlay can work on. A reloaded file is not validated yet when the overlay is
 * applied, so `pools` may be anything; whatever is malformed is left as it is for validation to
 * report with its path (rather than crashing here with a TypeError).
 */
function poolsOf(dynamic: DynamicInput): DynamicInput['pools'] {
  if (!Array.isArray(dynamic.pools)) return [];
  return dynamic.pools.filter((p) => isObject(p) && Array.isArray(p.backends));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

export function findBackend(dynamic: DynamicInput, id: string): BackendInput | undefined {
  for (const pool of poolsOf(dynamic)) {
    const found = pool.backends.find((b) => isObject(b) && b.id === id);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** One runtime operation, as the admin API receives it. */
export type RuntimeOperation =
  | { kind: 'drain'; backendId: string; drain: boolean }
  | { kind: 'weight'; backendId: string; weight: number }
  /** Weight and drain together, as one change (the main API's PATCH-like update). */
  | { kind: 'update'; backendId: string; weight?: number; drain?: boolean }
  /** From the main API, `addressCheck` holds the backend to the backend address policy (backend-address-check.ts). */
  | { kind: 'add'; pool: string; backend: BackendInput; addressCheck?: AddressCheckRequest }
  | { kind: 'remove'; backendId: string };

/** The overlay after `op`; the caller has checked that the target exists (or not) in the effective config. */
export function withOperation(overlay: RuntimeOverlay, op: RuntimeOperation): RuntimeOverlay {
  const next = structuredClone(overlay);
  switch (op.kind) {
    case 'drain':
      next.backends[op.backendId] = { ...next.backends[op.backendId], drain: op.drain };
      break;
    case 'weight':
      next.backends[op.backendId] = { ...next.backends[op.backendId], weight: op.weight };
      break;
    case 'update':
      next.backends[op.backendId] = {
        ...next.backends[op.backendId],
        ...(op.weight !== undefined ? { weight: op.weight } : {}),
        ...(op.drain !== undefined ? { drain: op.drain } : {}),
      };
      break;
    case 'add':
      // A removed base backend stays in `removed`: removals apply before additions, so the
      // re-added backend (possibly with a new URL or pool) replaces the base one.
      next.added.push({ pool: op.pool, backend: op.backend });
      break;
    case 'remove': {
      const wasAdded = next.added.some((a) => a.backend.id === op.backendId);
      next.added = next.added.filter((a) => a.backend.id !== op.backendId);
      if (!wasAdded) next.removed.push(op.backendId);
      delete next.backends[op.backendId];
      break;
    }
  }
  return next;
}
