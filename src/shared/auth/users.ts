/**
 * src/shared/auth owns who may use the main API: passwords.ts (hashing), jwt.ts (access tokens,
 * roles), refresh-tokens.ts (sessions), login-throttle.ts (brute force), registration.ts (who may
 * sign up) and this file, where a login ties them together. Primary and workers both use it.
 *
 * The main API's users: records in the `users` namespace (replicated to every worker, see
 * state/namespaces.ts), keyed by a random UUID, plus an index `user-emails` from the normalised
 * email to the id. The index is written first with expectedVersion 0, which is what makes emails
 * unique even when two workers (or two instances sharing Redis) create the same one at once.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { VelofluxError } from '../errors.js';
import type { StateStore } from '../state/store.js';
import { canonicalEmail, emailProblems, nameProblems } from './identity.js';
import { isRole, type Role } from './jwt.js';
import type { LoginThrottle } from './login-throttle.js';
import { checkPasswordPolicy, dummyVerify, hashPassword, verifyPassword } from './passwords.js';

export const USERS_NAMESPACE = 'users';
export const USER_EMAILS_NAMESPACE = 'user-emails';

/** One message for an unknown email, a wrong password and a disabled user: no enumeration. */
export const INVALID_CREDENTIALS = 'The email or password is incorrect';

/** As routes[].tenant in the config and tenant ids in the API. */
const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_UPDATE_ATTEMPTS = 3;
/** Far longer than writing one record takes; see #claimEmail. */
const STALE_CLAIM_MS = 60_000;

export interface User {
  readonly id: string;
  /** Canonical (identity.ts): NFKC, trimmed, lower case. */
  readonly email: string;
  /** NFKC, trimmed, nothing invisible (identity.ts). */
  readonly name?: string;
  readonly role: Role;
  /** null: not bound to a tenant (the operators of the whole instance). */
  readonly tenant: string | null;
  readonly passwordHash: string;
  readonly createdAt: string;
  readonly disabled?: boolean;
}

/** What the API may show: everything but the hash. */
export type PublicUser = Omit<User, 'passwordHash'>;

export interface NewUser {
  readonly email: string;
  readonly password: string;
  readonly role: Role;
  readonly tenant?: string | null;
  readonly name?: string;
}

export interface UserPatch {
  readonly role?: Role;
  readonly tenant?: string | null;
  readonly disabled?: boolean;
  readonly password?: string;
  readonly name?: string;
}

interface EmailIndexRecord {
  readonly userId: string;
  /** Milliseconds since the epoch. */
  readonly claimedAt: number;
}

export function publicView(user: User): PublicUser {
  const { passwordHash: _hidden, ...rest } = user;
  return rest;
}

export class Users {
  readonly #store: StateStore;

  constructor(store: StateStore) {
    this.#store = store;
  }

  /** Throws VF_ERR_VALIDATION, VF_ERR_PASSWORD_POLICY or VF_ERR_USER_EXISTS. */
  async create(input: NewUser): Promise<User> {
    const email = canonicalEmail(input.email);
    const name = input.name?.normalize('NFKC').trim();
    const problems = [...emailProblems(email), ...(name !== undefined ? nameProblems(name) : []), ...roleProblems(input.role), ...tenantProblems(input.tenant)];
    if (problems.length > 0) throw new VelofluxError('VF_ERR_VALIDATION', problems.join('; '));
    requirePolicy(input.password);
    // Cheap early answer; the claim below is what actually guarantees uniqueness.
    if ((await this.findByEmail(email)) !== undefined) throw new VelofluxError('VF_ERR_USER_EXISTS');

    // Hashed before the email is claimed, so a claim lives for milliseconds, not scrypt's 0.3 s.
    const passwordHash = await hashPassword(input.password);
    const id = randomUUID();
    const claimVersion = await this.#claimEmail(email, id);
    const user: User = {
      id,
      email,
      ...(name !== undefined ? { name } : {}),
      role: input.role,
      tenant: input.tenant ?? null,
      passwordHash,
      createdAt: new Date().toISOString(),
    };
    try {
      await this.#store.put<User>(USERS_NAMESPACE, id, user, { expectedVersion: 0 });
    } catch (err) {
      await this.#store.delete(USER_EMAILS_NAMESPACE, email, { expectedVersion: claimVersion }).catch(() => undefined);
      throw err;
    }
    return user;
  }

  async get(id: string): Promise<User | undefined> {
    return (await this.#store.get<User>(USERS_NAMESPACE, id))?.value;
  }

  async findByEmail(email: string): Promise<User | undefined> {
    const canonical = canonicalEmail(email);
    // Users created before emails were NFKC-normalised are indexed trimmed and lower-cased only.
    const legacy = email.trim().toLowerCase();
    const entry = (await this.#store.get<EmailIndexRecord>(USER_EMAILS_NAMESPACE, canonical)) ?? (legacy !== canonical ? await this.#store.get<EmailIndexRecord>(USER_EMAILS_NAMESPACE, legacy) : undefined);
    return entry === undefined ? undefined : this.get(entry.value.userId);
  }

  /** Every user, or those of one tenant (`null`: those bound to none), oldest first. */
  async list(filter: { tenant?: string | null } = {}): Promise<User[]> {
    const users = [...(await this.#store.list<User>(USERS_NAMESPACE)).values()].map((record) => record.value);
    const selected = filter.tenant === undefined ? users : users.filter((user) => user.tenant === filter.tenant);
    return selected.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async count(): Promise<number> {
    return (await this.#store.list(USERS_NAMESPACE)).size;
  }

  /**
   * Changes role, tenant, name, disabled or password. A caller that changes the password or
   * disables the user should also revoke their sessions (RefreshTokens.revokeUser).
   */
  async update(id: string, patch: UserPatch): Promise<User> {
    const name = patch.name?.normalize('NFKC').trim();
    const problems = [...(patch.role !== undefined ? roleProblems(patch.role) : []), ...tenantProblems(patch.tenant), ...(name !== undefined ? nameProblems(name) : [])];
    if (problems.length > 0) throw new VelofluxError('VF_ERR_VALIDATION', problems.join('; '));
    if (patch.password !== undefined) requirePolicy(patch.password);
    const passwordHash = patch.password === undefined ? undefined : await hashPassword(patch.password);

    // Another field may change concurrently: re-read and re-apply rather than overwrite it.
    for (let attempt = 1; ; attempt++) {
      const current = await this.#store.get<User>(USERS_NAMESPACE, id);
      if (current === undefined) throw new VelofluxError('VF_ERR_NOT_FOUND', 'No user has this id');
      const next: User = {
        ...current.value,
        ...(patch.role !== undefined ? { role: patch.role } : {}),
        ...(patch.tenant !== undefined ? { tenant: patch.tenant } : {}),
        ...(name !== undefined ? { name } : {}),
        ...(patch.disabled !== undefined ? { disabled: patch.disabled } : {}),
        ...(passwordHash !== undefined ? { passwordHash } : {}),
      };
      try {
        await this.#store.put<User>(USERS_NAMESPACE, id, next, { expectedVersion: current.version });
        return next;
      } catch (err) {
        if (attempt >= MAX_UPDATE_ATTEMPTS || !(err instanceof VelofluxError && err.code === 'VF_ERR_STATE_CONFLICT')) throw err;
      }
    }
  }

  /**
   * Deletes the user and frees their email; false when there was no such user. The caller ends
   * their sessions (RefreshTokens.revokeUser); the authenticator refuses their tokens at once,
   * since it finds no user.
   */
  async delete(id: string): Promise<boolean> {
    const user = await this.get(id);
    if (user === undefined) return false;
    const deleted = await this.#store.delete(USERS_NAMESPACE, id);
    // The index is freed only if it still names this user: the email may have been taken over.
    const claim = await this.#store.get<EmailIndexRecord>(USER_EMAILS_NAMESPACE, user.email);
    if (claim?.value.userId === id) await this.#store.delete(USER_EMAILS_NAMESPACE, user.email, { expectedVersion: claim.version }).catch(() => undefined);
    return deleted;
  }

  /**
   * The user with this email and password, or VF_ERR_AUTH_INVALID with the same message and,
   * within scrypt's own noise, the same time for an unknown email, a wrong password and a
   * disabled user. The throttle is asked first, so a refused attempt (429) costs no hashing.
   */
  async authenticate(email: string, password: string, address: string, throttle: LoginThrottle): Promise<User> {
    const attempt = await throttle.check(email, address);
    const user = await this.findByEmail(email);
    const passwordMatches = user === undefined ? await dummyVerify(password) : await verifyPassword(password, user.passwordHash);
    if (user === undefined || !passwordMatches || user.disabled === true) throw new VelofluxError('VF_ERR_AUTH_INVALID', INVALID_CREDENTIALS);
    await throttle.succeeded(attempt);
    return user;
  }

  /**
   * Reserves an email for a user id. A claim that names no user is a create in progress (the
   * user record follows within milliseconds) unless it is older than STALE_CLAIM_MS: then the
   * create died half-way, or the user was deleted, and the claim is taken over.
   */
  async #claimEmail(email: string, userId: string): Promise<number> {
    for (;;) {
      const existing = await this.#store.get<EmailIndexRecord>(USER_EMAILS_NAMESPACE, email);
      if (existing !== undefined) {
        const inProgress = Date.now() - existing.value.claimedAt < STALE_CLAIM_MS;
        if (inProgress || (await this.get(existing.value.userId)) !== undefined) throw new VelofluxError('VF_ERR_USER_EXISTS');
      }
      try {
        const claim = await this.#store.put<EmailIndexRecord>(USER_EMAILS_NAMESPACE, email, { userId, claimedAt: Date.now() }, { expectedVersion: existing?.version ?? 0 });
        return claim.version;
      } catch (err) {
        // Someone claimed it meanwhile: look again.
        if (!(err instanceof VelofluxError && err.code === 'VF_ERR_STATE_CONFLICT')) throw err;
      }
    }
  }
}

export interface BootstrapLog {
  info(object: object, message: string): void;
}

/**
 * On a start with no user at all, creates the first admin from VELOFLUX_ADMIN_EMAIL and
 * VELOFLUX_ADMIN_PASSWORD, defaulting to admin@localhost and a generated password that the
 * caller prints once (it is never logged). Returns undefined when users already exist. A
 * password from the environment that fails the policy stops the start (VF_ERR_CONFIG_INVALID).
 */
export async function bootstrapAdmin(store: StateStore, env: NodeJS.ProcessEnv, log: BootstrapLog): Promise<{ email: string; generatedPassword?: string } | undefined> {
  const users = new Users(store);
  if ((await users.count()) > 0) return undefined;

  const email = canonicalEmail(env.VELOFLUX_ADMIN_EMAIL?.trim() || 'admin@localhost');
  const givenPassword = env.VELOFLUX_ADMIN_PASSWORD || undefined;
  const problems = [...emailProblems(email).map((p) => `VELOFLUX_ADMIN_EMAIL: ${p}`), ...(givenPassword === undefined ? [] : checkPasswordPolicy(givenPassword).map((p) => `VELOFLUX_ADMIN_PASSWORD: ${p}`))];
  if (problems.length > 0) throw new VelofluxError('VF_ERR_CONFIG_INVALID', `cannot create the first admin: ${problems.join('; ')}`);
  const password = givenPassword ?? randomBytes(18).toString('base64url');

  try {
    await users.create({ email, password, role: 'admin', tenant: null });
  } catch (err) {
    // Another instance sharing the store created it first.
    if (err instanceof VelofluxError && err.code === 'VF_ERR_USER_EXISTS') return undefined;
    throw err;
  }
  log.info({ email, passwordFrom: givenPassword === undefined ? 'generated' : 'VELOFLUX_ADMIN_PASSWORD' }, 'created the first admin user');
  return givenPassword === undefined ? { email, generatedPassword: password } : { email };
}

function requirePolicy(password: string): void {
  const problems = typeof password === 'string' ? checkPasswordPolicy(password) : ['the password must be a string'];
  if (problems.length > 0) throw new VelofluxError('VF_ERR_PASSWORD_POLICY', problems.join('; '));
}

function roleProblems(role: unknown): string[] {
  return isRole(role) ? [] : ['the role must be admin, operator or viewer'];
}

function tenantProblems(tenant: unknown): string[] {
  if (tenant === undefined || tenant === null) return [];
  return typeof tenant === 'string' && TENANT_ID.test(tenant) ? [] : ['the tenant must be a tenant id: letters, digits, ".", "_" or "-", at most 64'];
}
