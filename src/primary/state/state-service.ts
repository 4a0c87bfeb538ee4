/**
 * The primary's side of the workers' state access: it runs the store operations workers ask for
 * and pushes the replicated namespaces down (whole when a worker starts, then every change), so
 * the store has one client per instance and data flows one way.
 */
import type { Logger } from '../../shared/log.js';
import { primaryMessage, type PrimaryMessage, type StateRequest } from '../../shared/ipc.js';
import type { StateRecord, StateStore } from '../../shared/state/store.js';

export interface WorkerLink {
  sendTo(workerId: number, message: PrimaryMessage): boolean;
  broadcast(message: PrimaryMessage): void;
}

export class StateService {
  readonly #store: StateStore;
  readonly #replicated: ReadonlySet<string>;
  readonly #log: Logger;
  #link: WorkerLink | undefined;

  constructor(store: StateStore, replicated: readonly string[], log: Logger) {
    this.#store = store;
    this.#replicated = new Set(replicated);
    this.#log = log;
    store.onChange((change) => {
      if (this.#replicated.has(change.namespace)) this.#link?.broadcast(primaryMessage({ type: 'state-change', change }));
    });
    store.onStatus((status) => {
      this.#link?.broadcast(primaryMessage({ type: 'state-status', status }));
      // Changes published while Redis was away never arrived: give every worker the whole state again.
      if (status.available) void this.#syncAll();
    });
  }

  attach(link: WorkerLink): void {
    this.#link = link;
  }

  /** A worker started: send it the replicated namespaces whole. */
  async sync(workerId: number): Promise<void> {
    const namespaces = await this.#snapshot();
    if (namespaces !== undefined) this.#link?.sendTo(workerId, primaryMessage({ type: 'state-sync', namespaces, status: this.#store.status() }));
  }

  async #syncAll(): Promise<void> {
    const namespaces = await this.#snapshot();
    if (namespaces !== undefined) this.#link?.broadcast(primaryMessage({ type: 'state-sync', namespaces, status: this.#store.status() }));
  }

  async #snapshot(): Promise<Record<string, [string, StateRecord][]> | undefined> {
    try {
      const namespaces: Record<string, [string, StateRecord][]> = {};
      for (const namespace of this.#replicated) namespaces[namespace] = [...(await this.#store.list(namespace))];
      return namespaces;
    } catch (err) {
      // Redis down: workers keep the replica they have; a sync follows when it is back.
      this.#log.warn({ err: (err as Error).message }, 'could not read the replicated state for the workers');
      return undefined;
    }
  }

  /** Runs one worker request and answers it with the result or the error's code and message. */
  handle(workerId: number, requestId: number, request: StateRequest): void {
    this.#run(request).then(
      (result) => this.#link?.sendTo(workerId, primaryMessage({ type: 'state-reply', requestId, result: toWire(result) })),
      (err: unknown) => {
        const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'VF_ERR_INTERNAL';
        this.#link?.sendTo(workerId, primaryMessage({ type: 'state-reply', requestId, error: { code, message: (err as Error).message } }));
      },
    );
  }

  #run(request: StateRequest): Promise<unknown> {
    const store = this.#store;
    const id = request.id ?? '';
    const options = 'expectedVersion' in request && request.expectedVersion !== undefined ? { expectedVersion: request.expectedVersion } : {};
    switch (request.op) {
      case 'get':
        return store.get(request.namespace, id);
      case 'list':
        return store.list(request.namespace);
      case 'counter':
        return store.counter(request.namespace, id);
      case 'put':
        return store.put(request.namespace, request.id, request.value, options);
      case 'delete':
        return store.delete(request.namespace, id, options);
      case 'increment':
        return store.increment(request.namespace, request.id, request.by);
      case 'count-in-window':
        return store.countInWindow(request.namespace, request.id, request.windowMs);
    }
  }
}

/** Maps do not survive IPC serialisation: lists travel as entry arrays. */
function toWire(result: unknown): unknown {
  return result instanceof Map ? [...result] : result;
}
