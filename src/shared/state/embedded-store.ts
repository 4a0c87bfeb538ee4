/**
 * The default state store: no dependencies, the primary is the authority. Each namespace lives
 * in memory and in `<dataDir>/state/<namespace>.json`, replaced atomically (temp file, fsync,
 * rename, fsync of the directory), so a `kill -9` at any moment leaves the last committed content.
 *
 * A write is answered only once it is on disk, and becomes visible (get, change events) only
 * then: a write the disk refused is never seen. Writes that arrive while a namespace is being
 * flushed are committed together by the next flush (group commit), so a burst costs a few fsyncs,
 * not one per write.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileIfExists, writeFileAtomic } from '../atomic-file.js';
import { VelofluxError } from '../errors.js';
import { Listeners } from '../listeners.js';
import type { PutOptions, StateChange, StateRecord, StateStatus, StateStore } from './store.js';

const FORMAT = 1;
/** Namespaces are chosen by code, not users; they name files, so they stay plain. */
const NAMESPACE = /^[a-z][a-z0-9-]{0,63}$/;

interface NamespaceData {
  records: Map<string, StateRecord>;
  counters: Map<string, number>;
}

type Mutation =
  | { kind: 'put'; id: string; value: unknown; expectedVersion: number | undefined }
  | { kind: 'delete'; id: string; expectedVersion: number | undefined }
  | { kind: 'increment'; id: string; by: number };

interface Pending {
  mutation: Mutation;
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
}

export class StateFileError extends VelofluxError {
  constructor(readonly path: string, message: string) {
    super('VF_ERR_STATE_FILE_INVALID', `${path}: ${message}; it holds VeloFlux's state (runtime changes, users, ...): fix it, or move it away to start without it`);
    this.name = 'StateFileError';
  }
}

export class EmbeddedStateStore implements StateStore {
  readonly nodeId: string;
  readonly #dir: string;
  readonly #namespaces = new Map<string, NamespaceData>();
  readonly #queues = new Map<string, Pending[]>();
  readonly #flushing = new Set<string>();
  readonly #listeners = new Listeners<StateChange>();
  readonly #since = new Date().toISOString();
  /** countInWindow's windows: memory only, by design. */
  readonly #windows = new Map<string, { endsAt: number; hits: number }>();
  #nextSweepAt = 1024;

  private constructor(dir: string, nodeId: string) {
    this.#dir = dir;
    this.nodeId = nodeId;
  }

  /** Loads every namespace file under `<dataDir>/state`; a file that cannot be understood is a StateFileError. */
  static async open(dataDir: string, nodeId: string): Promise<EmbeddedStateStore> {
    const store = new EmbeddedStateStore(join(dataDir, 'state'), nodeId);
    let names: string[] = [];
    try {
      names = await readdir(store.#dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new StateFileError(store.#dir, `cannot be read (${(err as Error).message})`);
    }
    for (const name of names) {
      const namespace = /^(.+)\.json$/.exec(name)?.[1];
      if (namespace !== undefined && NAMESPACE.test(namespace)) store.#namespaces.set(namespace, await store.#read(namespace));
    }
    return store;
  }

  /** Where a namespace is persisted (for messages and operators). */
  fileOf(namespace: string): string {
    return join(this.#dir, `${namespace}.json`);
  }

  async get<T>(namespace: string, id: string): Promise<StateRecord<T> | undefined> {
    return this.#data(namespace).records.get(id) as StateRecord<T> | undefined;
  }

  async list<T>(namespace: string): Promise<Map<string, StateRecord<T>>> {
    return new Map(this.#data(namespace).records) as Map<string, StateRecord<T>>;
  }

  put<T>(namespace: string, id: string, value: T, options: PutOptions = {}): Promise<StateRecord<T>> {
    return this.#enqueue(namespace, { kind: 'put', id, value: structuredClone(value), expectedVersion: options.expectedVersion }) as Promise<StateRecord<T>>;
  }

  delete(namespace: string, id: string, options: PutOptions = {}): Promise<boolean> {
    return this.#enqueue(namespace, { kind: 'delete', id, expectedVersion: options.expectedVersion }) as Promise<boolean>;
  }

  increment(namespace: string, id: string, by = 1): Promise<number> {
    if (!Number.isSafeInteger(by)) return Promise.reject(new TypeError(`increment by a whole number, not ${by}`));
    return this.#enqueue(namespace, { kind: 'increment', id, by }) as Promise<number>;
  }

  async counter(namespace: string, id: string): Promise<number> {
    return this.#data(namespace).counters.get(id) ?? 0;
  }

  async countInWindow(namespace: string, id: string, windowMs: number): Promise<number> {
    const key = `${namespace}\u0000${id}`;
    const now = Date.now();
    const window = this.#windows.get(key);
    if (window === undefined || window.endsAt <= now) {
      this.#windows.set(key, { endsAt: now + windowMs, hits: 1 });
      this.#sweepWindows(now);
      return 1;
    }
    return ++window.hits;
  }

  /** Forgets ended windows now and then, so a flood of distinct ids cannot grow memory for ever. */
  #sweepWindows(now: number): void {
    if (this.#windows.size < this.#nextSweepAt) return;
    for (const [key, window] of this.#windows) if (window.endsAt <= now) this.#windows.delete(key);
    this.#nextSweepAt = Math.max(1024, this.#windows.size * 2);
  }

  onChange(listener: (change: StateChange) => void): () => void {
    return this.#listeners.add(listener);
  }

  /** Embedded state is always available: it never changes status. */
  onStatus(): () => void {
    return () => {};
  }

  status(): StateStatus {
    return { backend: 'embedded', available: true, since: this.#since };
  }

  /** Waits for queued writes to reach the disk. */
  async close(): Promise<void> {
    while (this.#flushing.size > 0 || [...this.#queues.values()].some((q) => q.length > 0)) await new Promise((r) => setTimeout(r, 5));
  }

  #data(namespace: string): NamespaceData {
    if (!NAMESPACE.test(namespace)) throw new TypeError(`invalid state namespace "${namespace}"`);
    let data = this.#namespaces.get(namespace);
    if (data === undefined) {
      data = { records: new Map(), counters: new Map() };
      this.#namespaces.set(namespace, data);
    }
    return data;
  }

  #enqueue(namespace: string, mutation: Mutation): Promise<unknown> {
    try {
      this.#data(namespace);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      let queue = this.#queues.get(namespace);
      if (queue === undefined) this.#queues.set(namespace, (queue = []));
      queue.push({ mutation, resolve, reject });
      if (!this.#flushing.has(namespace)) void this.#flush(namespace);
    });
  }

  /** Applies every queued write to a copy, persists the copy, then makes it current. */
  async #flush(namespace: string): Promise<void> {
    this.#flushing.add(namespace);
    try {
      for (;;) {
        const batch = this.#queues.get(namespace)?.splice(0) ?? [];
        if (batch.length === 0) return;
        const current = this.#data(namespace);
        const next: NamespaceData = { records: new Map(current.records), counters: new Map(current.counters) };
        const outcomes: { pending: Pending; result: unknown; change?: StateChange }[] = [];
        for (const pending of batch) {
          try {
            outcomes.push({ pending, ...applyMutation(next, namespace, pending.mutation, this.nodeId) });
          } catch (err) {
            pending.reject(err as Error);
          }
        }
        if (outcomes.length === 0) continue;
        try {
          await writeFileAtomic(this.fileOf(namespace), serialise(namespace, next));
        } catch (err) {
          const failure = new VelofluxError('VF_ERR_PERSIST_FAILED', `could not save ${this.fileOf(namespace)}: ${(err as Error).message}`);
          for (const { pending } of outcomes) pending.reject(failure);
          continue;
        }
        this.#namespaces.set(namespace, next);
        for (const { pending, result, change } of outcomes) {
          pending.resolve(result);
          if (change !== undefined) this.#listeners.emit(change);
        }
      }
    } finally {
      this.#flushing.delete(namespace);
    }
  }

  async #read(namespace: string): Promise<NamespaceData> {
    const path = this.fileOf(namespace);
    let text: string | undefined;
    try {
      text = await readFileIfExists(path);
    } catch (err) {
      throw new StateFileError(path, `cannot be read (${(err as Error).message})`);
    }
    const data: NamespaceData = { records: new Map(), counters: new Map() };
    if (text === undefined) return data;
    let parsed: { format?: unknown; records?: Record<string, StateRecord>; counters?: Record<string, number> };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch (err) {
      throw new StateFileError(path, `not valid JSON (${(err as Error).message})`);
    }
    if (typeof parsed !== 'object' || parsed === null || parsed.format !== FORMAT) throw new StateFileError(path, `unknown format ${JSON.stringify((parsed as { format?: unknown } | null)?.format)}`);
    for (const [id, record] of Object.entries(parsed.records ?? {})) {
      if (!Number.isSafeInteger(record?.version) || record.version < 1) throw new StateFileError(path, `record "${id}" has no valid version`);
      data.records.set(id, Object.freeze({ value: record.value, version: record.version }));
    }
    for (const [id, value] of Object.entries(parsed.counters ?? {})) {
      if (!Number.isSafeInteger(value)) throw new StateFileError(path, `counter "${id}" is not a whole number`);
      data.counters.set(id, value);
    }
    return data;
  }
}

function applyMutation(data: NamespaceData, namespace: string, mutation: Mutation, origin: string): { result: unknown; change?: StateChange } {
  if (mutation.kind === 'increment') {
    const total = (data.counters.get(mutation.id) ?? 0) + mutation.by;
    data.counters.set(mutation.id, total);
    return { result: total };
  }
  const existing = data.records.get(mutation.id);
  const currentVersion = existing?.version ?? 0;
  if (mutation.expectedVersion !== undefined && mutation.expectedVersion !== currentVersion) {
    throw new VelofluxError('VF_ERR_STATE_CONFLICT', `${namespace}/${mutation.id} is at version ${currentVersion}, not ${mutation.expectedVersion}`);
  }
  if (mutation.kind === 'delete') {
    if (existing === undefined) return { result: false };
    data.records.delete(mutation.id);
    return { result: true, change: { namespace, id: mutation.id, version: currentVersion, value: undefined, deleted: true, origin } };
  }
  const record: StateRecord = Object.freeze({ value: mutation.value, version: currentVersion + 1 });
  data.records.set(mutation.id, record);
  return { result: record, change: { namespace, id: mutation.id, version: record.version, value: record.value, deleted: false, origin } };
}

function serialise(namespace: string, data: NamespaceData): string {
  return `${JSON.stringify({ format: FORMAT, namespace, records: Object.fromEntries(data.records), counters: Object.fromEntries(data.counters) }, null, 2)}\n`;
}
