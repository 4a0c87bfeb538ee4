/** What the main API's routes read and call: nothing else reaches them. */
import type { Accounts } from '../../shared/auth/accounts.js';
import type { AccessTokens } from '../../shared/auth/jwt.js';
import type { LoginThrottle } from '../../shared/auth/login-throttle.js';
import type { RefreshTokens } from '../../shared/auth/refresh-tokens.js';
import type { Registration } from '../../shared/auth/registration.js';
import type { Users } from '../../shared/auth/users.js';
import type { VelofluxConfig } from '../../shared/config/schema.js';
import type { ApiSecrets } from '../../shared/ipc.js';
import type { Logger } from '../../shared/log.js';
import type { StateStore } from '../../shared/state/store.js';
import type { PrimaryRpc } from '../primary-link/primary-rpc.js';
import type { Authenticator } from './authenticate.js';
import type { FeedRelay } from './feed-relay.js';
import type { BillingRelay } from './billing-relay.js';
import type { Tenants } from './tenants.js';
import type { SecurityFeed } from './security-feed.js';

/** What the worker hands the API when it starts it. */
export interface ApiDependencies {
  /** The config of the runtime serving now (it changes with every applied snapshot). */
  readonly config: () => Readonly<VelofluxConfig>;
  readonly secrets: ApiSecrets;
  /** The worker's replica of the state store (reads of users/tenants are local). */
  readonly state: StateStore;
  readonly rpc: PrimaryRpc;
  readonly feed: FeedRelay;
  /** The primary's billing feed, for the billing stream. */
  readonly billing: BillingRelay;
  readonly log: Logger;
}

/** The dependencies plus the services built from them once per worker. */
export interface ApiContext extends ApiDependencies {
  readonly tokens: AccessTokens;
  readonly refreshTokens: RefreshTokens;
  readonly throttle: LoginThrottle;
  readonly users: Users;
  readonly accounts: Accounts;
  readonly registration: Registration;
  readonly tenants: Tenants;
  readonly auth: Authenticator;
  /** The security events of every instance, from the replica (GET /api/security/events, /api/ws/security). */
  readonly security: SecurityFeed;
}
