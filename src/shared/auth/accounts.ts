/**
 * What an admin does to an existing account (issue 14, item 7): change its role, disable it,
 * delete it, and retire every account of a deleted tenant. Each change that takes access away
 * ends the account's sessions too, so its refresh tokens stop working; its access tokens stop at
 * once anyway, because the authenticator reads the user record on every request.
 *
 * Two rules hold whoever asks:
 * - an admin bound to a tenant sees only that tenant's accounts: any other id is "not found",
 *   exactly as an id that does not exist;
 * - the last active platform admin (role admin, no tenant, not disabled) cannot be demoted,
 *   disabled or deleted (409 VF_ERR_LAST_ADMIN): nobody could manage the instance any more, and
 *   the first-admin bootstrap runs only while no user exists at all. The count is read before
 *   the write, so two admins demoting each other at the same instant can both succeed; the
 *   bootstrap variables or the admin API remain the way back in.
 */
import { VelofluxError } from '../errors.js';
import type { Role } from './jwt.js';
import type { RefreshTokens } from './refresh-tokens.js';
import type { Actor } from './registration.js';
import type { User, Users } from './users.js';

export interface AccountChange {
  readonly role?: Role;
  readonly disabled?: boolean;
}

/** An admin of the whole instance who can still log in. */
export function isActivePlatformAdmin(user: Pick<User, 'role' | 'tenant' | 'disabled'>): boolean {
  return user.role === 'admin' && user.tenant === null && user.disabled !== true;
}

export class Accounts {
  readonly #users: Users;
  readonly #sessions: RefreshTokens;

  constructor(users: Users, sessions: RefreshTokens) {
    this.#users = users;
    this.#sessions = sessions;
  }

  /** Changes role and/or disabled; disabling ends every session of the account. */
  async change(actor: Actor, id: string, change: AccountChange): Promise<User> {
    const user = await this.#visible(actor, id);
    const after = { role: change.role ?? user.role, tenant: user.tenant, disabled: change.disabled ?? user.disabled };
    if (isActivePlatformAdmin(user) && !isActivePlatformAdmin(after)) await this.#requireAnotherPlatformAdmin(user.id);
    const updated = await this.#users.update(id, change);
    if (change.disabled === true) await this.#sessions.revokeUser(id);
    return updated;
  }

  /** Deletes the account (its email becomes free) and ends its sessions. */
  async remove(actor: Actor, id: string): Promise<void> {
    const user = await this.#visible(actor, id);
    if (isActivePlatformAdmin(user)) await this.#requireAnotherPlatformAdmin(user.id);
    if (!(await this.#users.delete(id))) throw notFound();
    await this.#sessions.revokeUser(id);
  }

  /**
   * A tenant is being deleted: its accounts go with it, so none of them can log in again, nor
   * belong to a new tenant that reuses the id. Returns how many were deleted.
   */
  async retireTenant(tenant: string): Promise<number> {
    let retired = 0;
    for (const user of await this.#users.list({ tenant })) {
      if (await this.#users.delete(user.id)) retired++;
      await this.#sessions.revokeUser(user.id);
    }
    return retired;
  }

  async #visible(actor: Actor, id: string): Promise<User> {
    if (actor.role !== 'admin') throw new VelofluxError('VF_ERR_FORBIDDEN', 'only an admin may change accounts');
    const user = await this.#users.get(id);
    const actorTenant = actor.tenant ?? null;
    if (user === undefined || (actorTenant !== null && user.tenant !== actorTenant)) throw notFound();
    return user;
  }

  async #requireAnotherPlatformAdmin(userId: string): Promise<void> {
    const others = (await this.#users.list()).filter((u) => u.id !== userId && isActivePlatformAdmin(u));
    if (others.length === 0) throw new VelofluxError('VF_ERR_LAST_ADMIN');
  }
}

function notFound(): VelofluxError {
  return new VelofluxError('VF_ERR_NOT_FOUND', 'No user has this id');
}
