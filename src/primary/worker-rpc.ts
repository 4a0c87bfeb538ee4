/**
 * The primary's side of shared/rpc.ts: one handler per method, each answer (or error, with its
 * VF_ERR code and a config error's problems) sent back to the worker that asked.
 */
import { VelofluxError, errorToWire } from '../shared/errors.js';
import { primaryMessage, type PrimaryMessage } from '../shared/ipc.js';
import type { RpcMethod, RpcMethods } from '../shared/rpc.js';

type Handler<M extends RpcMethod> = (params: RpcMethods[M]['params'], workerId: number) => Promise<RpcMethods[M]['result']>;

export class WorkerRpc {
  readonly #handlers = new Map<RpcMethod, Handler<RpcMethod>>();
  readonly #sendTo: (workerId: number, message: PrimaryMessage) => void;

  constructor(sendTo: (workerId: number, message: PrimaryMessage) => void) {
    this.#sendTo = sendTo;
  }

  handle<M extends RpcMethod>(method: M, handler: Handler<M>): this {
    this.#handlers.set(method, handler as unknown as Handler<RpcMethod>);
    return this;
  }

  dispatch(workerId: number, requestId: number, method: RpcMethod, params: unknown): void {
    const handler = this.#handlers.get(method);
    const run = handler === undefined ? Promise.reject(new VelofluxError('VF_ERR_INTERNAL', `unknown method ${method}`)) : handler(params as never, workerId);
    run.then(
      (result) => this.#sendTo(workerId, primaryMessage({ type: 'rpc-reply', requestId, result })),
      (err: unknown) => this.#sendTo(workerId, primaryMessage({ type: 'rpc-reply', requestId, error: errorToWire(err) })),
    );
  }
}
