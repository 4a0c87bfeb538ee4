/**
 * Who is calling the main API: a bearer access token (verified locally: HS256 with our secret,
 * issuer, audience, expiry) naming a user that still exists and is not disabled in the worker's
 * replica. The role and tenant come from the user record, not the token, so a demotion or a
 * disabled account takes effect at once rather than when the token expires.
 *
 * The token must also name a session (`sid`) that has not ended, and the user's tenant must still
 * exist (issue 14, items 4 and 7): logout, refresh-token reuse, a disabled or deleted user and a
 * deleted tenant end access within the time the change takes to reach the worker's replica, not
 * when the token expires. Every lookup is a read of that replica: no I/O per request. The private
 * streams authenticate through the same `principalOf` and re-check open clients with `isLive`.
 * Users of a suspended tenant may read but not write (403 VF_ERR_TENANT_SUSPENDED).
 *
 * Roles are ordered: admin > operator > viewer; `require('operator')` admits operators and admins.
 */
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { VelofluxError } from '../../shared/errors.js';
import type { AccessTokens, Role } from '../../shared/auth/jwt.js';

export interface Principal {
  readonly userId: string;
  readonly email: string;
  readonly role: Role;
  /** The tenant the user belongs to; null: sees every tenant's objects (admins, operators of the platform). */
  readonly tenant: string | null;
  /** The session (refresh-token family) of the token, for logout. */
  readonly sessionId: string;
  /** The user's tenant is suspended: reads only. */
  readonly readOnly: boolean;
}

export interface KnownUser {
  readonly id: string;
  readonly email: string;
  readonly role: Role;
  readonly tenant?: string | null;
  readonly disabled?: boolean;
}

/** The replica reads the authenticator needs; each answers locally. */
export interface AccountDirectory {
  user(id: string): Promise<KnownUser | undefined>;
  tenant(id: string): Promise<{ readonly status: 'active' | 'suspended' } | undefined>;
  sessionEnded(sessionId: string): Promise<boolean>;
}

/** What an open stream client proved when it authenticated, re-checked by `isLive`. */
export interface SessionRef {
  readonly userId: string;
  readonly sessionId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };
/** RFC 9110 §9.2.1: the methods that only read; everything else is a write. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

export function bearerTokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

export class Authenticator {
  readonly #tokens: AccessTokens;
  readonly #directory: AccountDirectory;

  constructor(tokens: AccessTokens, directory: AccountDirectory) {
    this.#tokens = tokens;
    this.#directory = directory;
  }

  /** The principal for an access token; VF_ERR_AUTH_INVALID for anything wrong with it, its session or its user. */
  async principalOf(token: string): Promise<Principal> {
    const claims = this.#tokens.verify(token);
    // Every token we sign names its session; one that does not could never be logged out.
    if (claims.sid === undefined) throw new VelofluxError('VF_ERR_AUTH_INVALID', 'The token is not valid: it names no session');
    if (await this.#directory.sessionEnded(claims.sid)) throw new VelofluxError('VF_ERR_AUTH_INVALID', 'The token is not valid: its session has ended');
    const user = await this.#directory.user(claims.sub);
    const standing = user === undefined ? undefined : await this.standingOf(user);
    if (user === undefined || standing === undefined) throw new VelofluxError('VF_ERR_AUTH_INVALID', 'the token belongs to no active user');
    return { userId: user.id, email: user.email, role: user.role, tenant: user.tenant ?? null, sessionId: claims.sid, readOnly: standing === 'read-only' };
  }

  /**
   * Whether this account may use the API now: undefined when it may not (disabled, or its tenant
   * is gone), 'read-only' when its tenant is suspended. Login and refresh ask it too.
   */
  async standingOf(user: KnownUser): Promise<'active' | 'read-only' | undefined> {
    if (user.disabled === true) return undefined;
    const tenantId = user.tenant ?? null;
    if (tenantId === null) return 'active';
    const tenant = await this.#directory.tenant(tenantId);
    if (tenant === undefined) return undefined;
    return tenant.status === 'suspended' ? 'read-only' : 'active';
  }

  /** For a client that authenticated earlier (a stream): false once its session or account ended. */
  async isLive(ref: SessionRef): Promise<boolean> {
    if (await this.#directory.sessionEnded(ref.sessionId)) return false;
    const user = await this.#directory.user(ref.userId);
    return user !== undefined && (await this.standingOf(user)) !== undefined;
  }

  /**
   * An onRequest hook admitting authenticated users of at least `role` (401 without a valid token,
   * 403 below the role). It runs before the body is read or validated: strangers and roles that may
   * not write learn nothing from schema or size errors.
   */
  require(role: Role): onRequestAsyncHookHandler {
    return async (request: FastifyRequest, reply: FastifyReply) => {
      const token = bearerTokenOf(request);
      if (token === undefined) {
        void reply.header('www-authenticate', 'Bearer realm="veloflux"');
        throw new VelofluxError('VF_ERR_AUTH_REQUIRED');
      }
      try {
        request.principal = await this.principalOf(token);
      } catch (err) {
        void reply.header('www-authenticate', 'Bearer realm="veloflux", error="invalid_token"');
        throw err;
      }
      if (RANK[request.principal.role] < RANK[role]) throw new VelofluxError('VF_ERR_FORBIDDEN', `this needs the ${role} role`);
      requireWritable(request);
    };
  }
}

/** The authenticated principal of a route guarded by `require` (never null there). */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === null) throw new VelofluxError('VF_ERR_AUTH_REQUIRED');
  return request.principal;
}

/** 403 VF_ERR_TENANT_SUSPENDED for a write by a user of a suspended tenant. */
export function requireWritable(request: FastifyRequest): void {
  if (request.principal?.readOnly === true && !SAFE_METHODS.has(request.method)) throw new VelofluxError('VF_ERR_TENANT_SUSPENDED');
}
