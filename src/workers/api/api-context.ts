/** What the main API's routes read and call: nothing else reaches them. */
import type { VelofluxConfig } from '../../shared/config/schema.js';
import type { ApiSecrets } from '../../shared/ipc.js';
import type { Logger } from '../../shared/log.js';
import type { StateStore } from '../../shared/state/store.js';
import type { PrimaryRpc } from '../primary-rpc.js';

export interface ApiContext {
  /** The config of the runtime serving now (it changes with every applied snapshot). */
  readonly config: () => Readonly<VelofluxConfig>;
  readonly secrets: ApiSecrets;
  /** The worker's replica of the state store (reads of users/tenants are local). */
  readonly state: StateStore;
  readonly rpc: PrimaryRpc;
  readonly log: Logger;
}
