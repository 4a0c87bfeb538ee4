/**
 * Who is calling the main API: a bearer access token (verified locally: HS256 with our secret,
 * issuer, audience, expiry) naming a user that still exists and is not disabled in the worker's
 * replica. The role and tenant come from the user record, not the token, so a demotion or a
 * disabled account takes effect at once rather than when the token expires.
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
  readonly sessionId: string | undefined;
}

export interface KnownUser {
  readonly id: string;
  readonly email: string;
  readonly role: Role;
  readonly tenant?: string | null;
  readonly disabled?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export function bearerTokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

export class Authenticator {
  readonly #tokens: AccessTokens;
  readonly #userById: (id: string) => Promise<KnownUser | undefined>;

  constructor(tokens: AccessTokens, userById: (id: string) => Promise<KnownUser | undefined>) {
    this.#tokens = tokens;
    this.#userById = userById;
  }

  /** The principal for an access token; VF_ERR_AUTH_INVALID for anything wrong with it or its user. */
  async principalOf(token: string): Promise<Principal> {
    const claims = this.#tokens.verify(token);
    const user = await this.#userById(claims.sub);
    if (user === undefined || user.disabled === true) throw new VelofluxError('VF_ERR_AUTH_INVALID', 'the token belongs to no active user');
    return { userId: user.id, email: user.email, role: user.role, tenant: user.tenant ?? null, sessionId: claims.sid };
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
    };
  }
}

/** The authenticated principal of a route guarded by `require` (never null there). */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === null) throw new VelofluxError('VF_ERR_AUTH_REQUIRED');
  return request.principal;
}
