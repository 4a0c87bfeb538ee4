/**
 * The worker's StateStore: reads of replicated namespaces are answered from a local replica the
 * primary keeps current (no I/O on the request path); everything else, and every write, is a
 * request to the primary with an id and a timeout. A write is seen here through the change the
 * primary pushes back, like a change made anywhere else.
 */
import { workerMessage, type PrimaryMessage, type StateRequest, type WorkerMessage } from '../../shared/ipc.js';
import type { PutOptions, StateChange, StateRecord, StateStatus, StateStore } from '../../shared/state/store.js';
import { PendingRequests } from './pending-requests.js';
import { Listeners } from '../../shared/listeners.js';

/** A primary that does not answer in this long is treated like an unavailable store. */
const REQUEST_TIMEOUT_MS = 2000;

export class StateReplica implements StateStore {
  readonly nodeId = 'worker';
  readonly #send: (message: WorkerMessage) => void;
  readonly #pending: PendingRequests;
  readonly #replicas = new Map<string, Map<string, StateRecord>>();
  readonly #changeListeners = new Listeners<StateChange>();
  readonly #statusListeners = new Listeners<StateStatus>();
  /** Changes that arrived before the first sync, applied on top of it. */
  #early: StateChange[] | undefined = [];
  #status: StateStatus = { backend: 'embedded', available: false, error: 'not synchronised with the primary yet', since: new Date().toISOString() };

  constructor(send: (message: WorkerMessage) => void, timeoutMs = REQUEST_TIMEOUT_MS) {
    this.#send = send;
    this.#pending = new PendingRequests(timeoutMs, 'VF_ERR_STATE_UNAVAILABLE');
  }

  /** Feeds the state messages from the primary; returns false for other messages. */
  receive(message: PrimaryMessage): boolean {
    switch (message.type) {
      case 'state-sync': {
        for (const [namespace, entries] of Object.entries(message.namespaces)) this.#replicas.set(namespace, new Map(entries));
        const early = this.#early ?? [];
        this.#early = undefined;
        for (const change of early) this.#apply(change);
        this.#setStatus(message.status);
        return true;
      }
      case 'state-change':
        if (this.#early !== undefined) this.#early.push(message.change);
        else this.#apply(message.change);
        return true;
      case 'state-status':
        this.#setStatus(message.status);
        return true;
      case 'state-reply':
        this.#pending.settle(message.requestId, message.result, message.error);
        return true;
      default:
        return false;
    }
  }

  async get<T>(namespace: string, id: string): Promise<StateRecord<T> | undefined> {
    const replica = this.#replicas.get(namespace);
    if (replica !== undefined) return replica.get(id) as StateRecord<T> | undefined;
    return (await this.#request({ op: 'get', namespace, id })) as StateRecord<T> | undefined;
  }

  async list<T>(namespace: string): Promise<Map<string, StateRecord<T>>> {
    const replica = this.#replicas.get(namespace);
    if (replica !== undefined) return new Map(replica) as Map<string, StateRecord<T>>;
    return new Map((await this.#request({ op: 'list', namespace })) as [string, StateRecord<T>][]);
  }

  async put<T>(namespace: string, id: string, value: T, options: PutOptions = {}): Promise<StateRecord<T>> {
    return (await this.#request({ op: 'put', namespace, id, value, ...options })) as StateRecord<T>;
  }

  async delete(namespace: string, id: string, options: PutOptions = {}): Promise<boolean> {
    return (await this.#request({ op: 'delete', namespace, id, ...options })) as boolean;
  }

  async increment(namespace: string, id: string, by = 1): Promise<number> {
    return (await this.#request({ op: 'increment', namespace, id, by })) as number;
  }

  async counter(namespace: string, id: string): Promise<number> {
    return (await this.#request({ op: 'counter', namespace, id })) as number;
  }

  async countInWindow(namespace: string, id: string, windowMs: number): Promise<number> {
    return (await this.#request({ op: 'count-in-window', namespace, id, windowMs })) as number;
  }

  onChange(listener: (change: StateChange) => void): () => void {
    return this.#changeListeners.add(listener);
  }

  onStatus(listener: (status: StateStatus) => void): () => void {
    return this.#statusListeners.add(listener);
  }

  status(): StateStatus {
    return this.#status;
  }

  /** Fails what is still waiting (the worker is stopping). */
  async close(): Promise<void> {
    this.#pending.failAll('the worker is stopping');
  }

  #request(request: StateRequest): Promise<unknown> {
    return this.#pending.start(`a state ${request.op}`, (requestId) => this.#send(workerMessage({ type: 'state-request', requestId, request })));
  }

  #apply(change: StateChange): void {
    const replica = this.#replicas.get(change.namespace);
    if (replica !== undefined) {
      const current = replica.get(change.id);
      // The sync may already hold this change or a later one.
      if (current !== undefined && current.version > change.version) return;
      if (change.deleted) replica.delete(change.id);
      else replica.set(change.id, { value: change.value, version: change.version });
    }
    this.#changeListeners.emit(change);
  }

  #setStatus(status: StateStatus): void {
    this.#status = status;
    this.#statusListeners.emit(status);
  }
}
