/**
 * What the primary does for the main API's calls (shared/rpc.ts): backend changes take the
 * ConfigController's one path (validate, apply on every worker or none, persist, audit), exactly
 * like the admin API's, with the API user as the actor.
 */
import type { ApiActor } from '../shared/rpc.js';
import type { Actor } from './audit-log.js';
import type { ConfigController } from './config/config-controller.js';
import type { WorkerRpc } from './worker-rpc.js';

const actorOf = (actor: ApiActor): Actor => ({ via: 'api', user: actor.user, address: actor.address });

export function handleBackendCalls(rpc: WorkerRpc, controller: ConfigController): void {
  rpc
    .handle('backends.add', ({ pool, backend, actor, addressCheck }) => controller.operate({ kind: 'add', pool, backend: { ...backend }, addressCheck }, actorOf(actor)))
    .handle('backends.update', ({ id, weight, drain, actor }) => controller.operate({ kind: 'update', backendId: id, ...(weight !== undefined ? { weight } : {}), ...(drain !== undefined ? { drain } : {}) }, actorOf(actor)))
    .handle('backends.remove', ({ id, actor }) => controller.operate({ kind: 'remove', backendId: id }, actorOf(actor)));
}
