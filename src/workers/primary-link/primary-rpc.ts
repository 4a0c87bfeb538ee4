/** The worker's side of shared/rpc.ts: typed calls to the primary, each bounded by a timeout. */
import type { WireError } from '../../shared/errors.js';
import { workerMessage, type WorkerMessage } from '../../shared/ipc.js';
import type { RpcMethod, RpcMethods } from '../../shared/rpc.js';
import { PendingRequests } from './pending-requests.js';

/** Config changes wait for every worker to apply them, which may take a while under load. */
const RPC_TIMEOUT_MS = 30_000;

export class PrimaryRpc {
  readonly #send: (message: WorkerMessage) => void;
  readonly #pending = new PendingRequests(RPC_TIMEOUT_MS, 'VF_ERR_PRIMARY_UNAVAILABLE');

  constructor(send: (message: WorkerMessage) => void) {
    this.#send = send;
  }

  call<M extends RpcMethod>(method: M, params: RpcMethods[M]['params']): Promise<RpcMethods[M]['result']> {
    return this.#pending.start(method, (requestId) => this.#send(workerMessage({ type: 'rpc-request', requestId, method, params }))) as Promise<RpcMethods[M]['result']>;
  }

  /** The primary's rpc-reply. */
  settle(requestId: number, result: unknown, error: WireError | undefined): void {
    this.#pending.settle(requestId, result, error);
  }

  close(): void {
    this.#pending.failAll('the worker is stopping');
  }
}
