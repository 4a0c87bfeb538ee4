/**
 * The state layer every stateful feature stands on (users, tenants, runtime config, usage...):
 * versioned records grouped in namespaces, counters, and change events. Two implementations:
 * embedded (the primary is the authority and persists under dataDir) and redis (every instance
 * shares one Redis). Workers never talk to either directly: they read a replica and send writes
 * to the primary over IPC (state-replica.ts), so data flows one way.
 */

/** A record and the version it was written with (1 for the first write, +1 per write). */
export interface StateRecord<T = unknown> {
  readonly value: T;
  readonly version: number;
}

export interface StateChange {
  readonly namespace: string;
  readonly id: string;
  /** Version after the change; for a delete, the version the record had. */
  readonly version: number;
  /** The new value, or undefined when the record was deleted. */
  readonly value: unknown;
  readonly deleted: boolean;
  /** Id of the VeloFlux instance (node) that made the change. */
  readonly origin: string;
}

export interface PutOptions {
  /**
   * Optimistic concurrency: the write succeeds only if the record's current version is this one
   * (0: the record must not exist). Otherwise it fails with VF_ERR_STATE_CONFLICT.
   */
  readonly expectedVersion?: number;
}

export interface StateStatus {
  readonly backend: 'embedded' | 'redis';
  /** Redis: connected and answering. Embedded: always true. */
  readonly available: boolean;
  /** The last failure, while unavailable. */
  readonly error?: string;
  readonly since: string;
}

export interface StateStore {
  /** This instance's id (the `origin` of changes it makes). */
  readonly nodeId: string;
  get<T>(namespace: string, id: string): Promise<StateRecord<T> | undefined>;
  /** Every record of a namespace, by id. */
  list<T>(namespace: string): Promise<Map<string, StateRecord<T>>>;
  put<T>(namespace: string, id: string, value: T, options?: PutOptions): Promise<StateRecord<T>>;
  /** True when there was a record to delete. */
  delete(namespace: string, id: string, options?: PutOptions): Promise<boolean>;
  /** Adds `by` (may be negative) to a counter and returns the new total. Counters start at 0. */
  increment(namespace: string, id: string, by?: number): Promise<number>;
  counter(namespace: string, id: string): Promise<number>;
  /**
   * Counts a hit in a fixed window of `windowMs` that starts with the first hit, and returns the
   * hits so far in it (1 for the first). Not durable (embedded: memory; redis: a key that expires):
   * for throttles such as failed logins, where losing the count on a restart is harmless.
   */
  countInWindow(namespace: string, id: string, windowMs: number): Promise<number>;
  /** Called for every change, made here or (redis) by another instance. Returns an unsubscribe. */
  onChange(listener: (change: StateChange) => void): () => void;
  status(): StateStatus;
  /**
   * Called on every availability change (redis: connection lost or back). Changes made while
   * disconnected are not replayed, so owners re-read what they hold when it becomes available.
   */
  onStatus(listener: (status: StateStatus) => void): () => void;
  close(): Promise<void>;
}

/**
 * Namespaces and ids may hold any characters (an id like "a:b*" is fine): implementations escape
 * them (key-escape.ts) so no two (namespace, id) pairs can share a key.
 */
