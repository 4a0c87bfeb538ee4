/**
 * Who may create an account through the main API, by mode:
 * - `open`: anyone, as a viewer bound to no tenant;
 * - `invite`: whoever holds a valid invite (single use, expiring, created by an admin), with the
 *   role and tenant the invite names;
 * - `admin-only` (the default): only an authenticated admin.
 * An admin may create users in every mode; an admin bound to a tenant only within that tenant.
 *
 * While no user exists at all, nobody may register through the API, whatever the mode: the first
 * admin comes from bootstrapAdmin at start (VELOFLUX_ADMIN_EMAIL / VELOFLUX_ADMIN_PASSWORD), so
 * an instance reachable from the network before its operator logs in cannot be claimed by
 * whoever reaches it first.
 *
 * An account or invite may only name a tenant that exists (issue 14, item 7): otherwise a user
 * made for a typo'd or deleted tenant would become a member of whichever tenant later takes that
 * id. An invite whose tenant was deleted since is no longer valid.
 */
import { createHash, randomBytes } from 'node:crypto';
import { VelofluxError, type ErrorCode } from '../errors.js';
import type { StateStore } from '../state/store.js';
import type { Role } from './jwt.js';
import type { User, Users } from './users.js';

export const REGISTRATION_MODES = ['open', 'invite', 'admin-only'] as const;
export type RegistrationMode = (typeof REGISTRATION_MODES)[number];
export const DEFAULT_REGISTRATION_MODE: RegistrationMode = 'admin-only';

export const INVITES_NAMESPACE = 'invites';
export const DEFAULT_INVITE_TTL_SECONDS = 7 * 24 * 3600;

const INVITE_BYTES = 24;
/** 24 bytes in base64url. */
const INVITE_SHAPE = /^[A-Za-z0-9_-]{32}$/;

/** The authenticated caller, when there is one. */
export interface Actor {
  readonly id?: string;
  readonly role: Role;
  /** A tenant-bound admin manages only that tenant. */
  readonly tenant?: string | null;
}

/** An invite as stored (under the SHA-256 of its code, which is a credential). */
export interface Invite {
  readonly role: Role;
  readonly tenant: string | null;
  readonly createdBy: string | null;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
  /** Set while a registration redeems it; an invite is deleted once redeemed. */
  readonly reservedAt?: number;
}

export interface RegistrationContext {
  readonly usersExist: boolean;
  readonly actor?: Actor;
  /** An invite already found valid (unexpired, unredeemed); Registration looks it up. */
  readonly invite?: Invite;
  /** What the request asks for; only an admin may choose. */
  readonly requested?: { readonly role?: Role; readonly tenant?: string | null };
}

export type RegistrationDecision =
  | { readonly allowed: true; readonly via: 'admin' | 'invite' | 'open'; readonly role: Role; readonly tenant: string | null }
  | { readonly allowed: false; readonly code: ErrorCode; readonly reason: string };

/** The policy alone, with no I/O: whether this caller may create an account, and which one. */
export function mayRegister(mode: RegistrationMode, context: RegistrationContext): RegistrationDecision {
  const { usersExist, actor, invite, requested = {} } = context;
  if (!usersExist) {
    return deny('VF_ERR_REGISTRATION_CLOSED', 'no user exists yet: the first admin is created at start from VELOFLUX_ADMIN_EMAIL and VELOFLUX_ADMIN_PASSWORD');
  }
  if (actor?.role === 'admin') {
    const actorTenant = actor.tenant ?? null;
    if (actorTenant !== null && requested.tenant !== undefined && requested.tenant !== actorTenant) {
      return deny('VF_ERR_FORBIDDEN', `an admin of tenant "${actorTenant}" may only create users of that tenant`);
    }
    return { allowed: true, via: 'admin', role: requested.role ?? 'viewer', tenant: actorTenant ?? requested.tenant ?? null };
  }
  // Anyone else registers as a stranger would: the mode decides, and the role is not theirs to pick.
  const grant = mode === 'open' ? { via: 'open' as const, role: 'viewer' as const, tenant: null } : mode === 'invite' && invite !== undefined ? { via: 'invite' as const, role: invite.role, tenant: invite.tenant } : undefined;
  if (grant === undefined) {
    if (mode === 'invite') return deny('VF_ERR_INVITE_INVALID', 'registration needs a valid invite code');
    return actor === undefined ? deny('VF_ERR_REGISTRATION_CLOSED', 'only an admin may create users') : deny('VF_ERR_FORBIDDEN', 'only an admin may create users');
  }
  if ((requested.role !== undefined && requested.role !== grant.role) || (requested.tenant !== undefined && requested.tenant !== grant.tenant)) {
    return deny('VF_ERR_FORBIDDEN', `this registration creates a ${grant.role}${grant.tenant === null ? '' : ` of tenant "${grant.tenant}"`}; only an admin may choose the role or tenant`);
  }
  return { allowed: true, ...grant };
}

export interface RegistrationOptions {
  readonly mode?: RegistrationMode;
  /** Whether a tenant with this id exists now. Without it every tenant is unknown (refused). */
  readonly tenantExists?: (id: string) => Promise<boolean>;
  readonly inviteTtlSeconds?: number;
  /** Milliseconds since the epoch; tests move it. */
  readonly clock?: () => number;
}

export interface NewRegistration {
  readonly email: string;
  readonly password: string;
  readonly name?: string;
  readonly role?: Role;
  readonly tenant?: string | null;
}

export class Registration {
  readonly mode: RegistrationMode;
  readonly #store: StateStore;
  readonly #users: Users;
  readonly #inviteTtlMs: number;
  readonly #clock: () => number;
  readonly #tenantExists: (id: string) => Promise<boolean>;

  constructor(store: StateStore, users: Users, options: RegistrationOptions = {}) {
    const mode = options.mode ?? DEFAULT_REGISTRATION_MODE;
    if (!REGISTRATION_MODES.includes(mode)) throw new VelofluxError('VF_ERR_CONFIG_INVALID', `registration mode must be one of ${REGISTRATION_MODES.join(', ')}, not "${mode}"`);
    const ttlSeconds = options.inviteTtlSeconds ?? DEFAULT_INVITE_TTL_SECONDS;
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) throw new VelofluxError('VF_ERR_CONFIG_INVALID', `invite lifetime must be a whole number of seconds >= 1, not ${ttlSeconds}`);
    this.mode = mode;
    this.#store = store;
    this.#users = users;
    this.#inviteTtlMs = ttlSeconds * 1000;
    this.#clock = options.clock ?? Date.now;
    this.#tenantExists = options.tenantExists ?? (async () => false);
  }

  /** An admin invites someone as `role` (in the admin's tenant when the admin has one). */
  async createInvite(actor: Actor, grant: { role: Role; tenant?: string | null }): Promise<{ code: string; expiresAt: number }> {
    if (actor.role !== 'admin') throw new VelofluxError('VF_ERR_FORBIDDEN', 'only an admin may create invites');
    const actorTenant = actor.tenant ?? null;
    if (actorTenant !== null && grant.tenant !== undefined && grant.tenant !== actorTenant) {
      throw new VelofluxError('VF_ERR_FORBIDDEN', `an admin of tenant "${actorTenant}" may only invite into that tenant`);
    }
    const tenant = actorTenant ?? grant.tenant ?? null;
    if (tenant !== null && !(await this.#tenantExists(tenant))) throw unknownTenant(tenant);
    const code = randomBytes(INVITE_BYTES).toString('base64url');
    const invite: Invite = { role: grant.role, tenant, createdBy: actor.id ?? null, expiresAt: this.#clock() + this.#inviteTtlMs };
    await this.#store.put<Invite>(INVITES_NAMESPACE, sha256(code), invite, { expectedVersion: 0 });
    return { code, expiresAt: invite.expiresAt };
  }

  /**
   * Creates the account if the mode allows this caller to (see mayRegister); an invite is used
   * up only when the account was created, and is single-use even under concurrent redemptions.
   */
  async register(input: NewRegistration, context: { actor?: Actor; inviteCode?: string } = {}): Promise<User> {
    const usersExist = (await this.#users.count()) > 0;
    const asAdmin = context.actor?.role === 'admin';
    const found = !asAdmin && context.inviteCode !== undefined ? await this.#findInvite(context.inviteCode) : undefined;
    const decision = mayRegister(this.mode, {
      usersExist,
      ...(context.actor !== undefined ? { actor: context.actor } : {}),
      ...(found !== undefined ? { invite: found.invite } : {}),
      requested: { ...(input.role !== undefined ? { role: input.role } : {}), ...(input.tenant !== undefined ? { tenant: input.tenant } : {}) },
    });
    if (!decision.allowed) throw new VelofluxError(decision.code, decision.reason);
    if (decision.tenant !== null && !(await this.#tenantExists(decision.tenant))) {
      throw decision.via === 'invite' ? new VelofluxError('VF_ERR_INVITE_INVALID', 'the tenant of this invite no longer exists') : unknownTenant(decision.tenant);
    }

    // Reserve the invite first so two registrations cannot both redeem it; give it back if the
    // account cannot be created (weak password, email taken), so a typo does not waste it.
    let reserved: { id: string; version: number; invite: Invite } | undefined;
    if (decision.via === 'invite' && found !== undefined) {
      try {
        const record = await this.#store.put<Invite>(INVITES_NAMESPACE, found.id, { ...found.invite, reservedAt: this.#clock() }, { expectedVersion: found.version });
        reserved = { id: found.id, version: record.version, invite: found.invite };
      } catch (err) {
        if (err instanceof VelofluxError && err.code === 'VF_ERR_STATE_CONFLICT') throw new VelofluxError('VF_ERR_INVITE_INVALID');
        throw err;
      }
    }
    let user: User;
    try {
      user = await this.#users.create({ email: input.email, password: input.password, role: decision.role, tenant: decision.tenant, ...(input.name !== undefined ? { name: input.name } : {}) });
    } catch (err) {
      if (reserved !== undefined) await this.#store.put<Invite>(INVITES_NAMESPACE, reserved.id, reserved.invite, { expectedVersion: reserved.version }).catch(() => undefined);
      throw err;
    }
    if (reserved !== undefined) await this.#store.delete(INVITES_NAMESPACE, reserved.id, { expectedVersion: reserved.version }).catch(() => undefined);
    return user;
  }

  /** Deletes expired invites (redeemed ones are deleted on redemption); returns how many. */
  async pruneInvites(): Promise<number> {
    const now = this.#clock();
    let deleted = 0;
    for (const [id, record] of await this.#store.list<Invite>(INVITES_NAMESPACE)) {
      if (record.value.expiresAt > now) continue;
      deleted += (await this.#store.delete(INVITES_NAMESPACE, id, { expectedVersion: record.version }).catch(() => false)) ? 1 : 0;
    }
    return deleted;
  }

  async #findInvite(code: string): Promise<{ id: string; version: number; invite: Invite } | undefined> {
    if (typeof code !== 'string' || !INVITE_SHAPE.test(code)) return undefined;
    const id = sha256(code);
    const record = await this.#store.get<Invite>(INVITES_NAMESPACE, id);
    if (record === undefined || record.value.reservedAt !== undefined || record.value.expiresAt <= this.#clock()) return undefined;
    return { id, version: record.version, invite: record.value };
  }
}

/** 400 and the same text whether the tenant never existed or was deleted. */
function unknownTenant(tenant: string): VelofluxError {
  return new VelofluxError('VF_ERR_VALIDATION', `no tenant "${tenant}"`);
}

function deny(code: ErrorCode, reason: string): RegistrationDecision {
  return { allowed: false, code, reason };
}

function sha256(code: string): string {
  return createHash('sha256').update(code).digest('base64url');
}
