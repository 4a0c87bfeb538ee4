/**
 * POST /api/auth/login, /refresh, /register, /invites; GET /api/auth/logout, /me (DESIGN.md §2).
 * A session is a refresh-token family: login starts one, refresh rotates within it, logout ends
 * it, and the access token names it (`sid`) so logout needs nothing but the access token.
 * Ending the session ends that access token too (authenticate.ts). A user whose tenant is gone
 * cannot log in or refresh, exactly like a disabled one.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ROLES } from '../../../shared/auth/jwt.js';
import { TooManyLoginAttemptsError } from '../../../shared/auth/login-throttle.js';
import { INVALID_CREDENTIALS, publicView, type User } from '../../../shared/auth/users.js';
import { VelofluxError } from '../../../shared/errors.js';
import type { ApiContext } from '../api-context.js';
import { bearerTokenOf, principalOf, requireWritable } from '../authenticate.js';
import { bearer, idPattern, sessionSchema, userSchema, withErrors } from '../schemas.js';
import { clearRefreshCookie, refreshCookieOf, setRefreshCookie, wantsRefreshCookie } from '../refresh-cookie.js';

const credentials = {
  type: 'object',
  additionalProperties: false,
  required: ['email', 'password'],
  properties: { email: { type: 'string', minLength: 3, maxLength: 254 }, password: { type: 'string', minLength: 1, maxLength: 1024 } },
} as const;

const registration = {
  type: 'object',
  additionalProperties: false,
  required: ['email', 'password'],
  properties: {
    email: { type: 'string', minLength: 3, maxLength: 254 },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
    name: { type: 'string', maxLength: 200 },
    role: { type: 'string', enum: [...ROLES] },
    tenant: { anyOf: [{ type: 'string', pattern: idPattern }, { type: 'null' }] },
    inviteCode: { type: 'string', maxLength: 100 },
  },
} as const;

export function registerAuthRoutes(app: FastifyInstance, context: ApiContext): void {
  const { users, tokens, refreshTokens, throttle, auth } = context;
  const refreshTtlSeconds = Math.round(context.config().server.api.refreshTokenTtl / 1000);

  /** The new session's tokens; a browser that asked for the cookie gets the refresh token only there. */
  const answer = (request: FastifyRequest, reply: FastifyReply, user: User, refreshToken: string, familyId: string) => {
    const access = tokens.sign({ sub: user.id, role: user.role, ...(user.tenant !== null ? { tenant: user.tenant } : {}), sid: familyId });
    const inCookie = wantsRefreshCookie(request);
    if (inCookie) setRefreshCookie(request, reply, refreshToken, refreshTtlSeconds);
    return { accessToken: access.token, ...(inCookie ? {} : { refreshToken }), expiresIn: access.expiresIn, tokenType: 'Bearer', user: publicView(user) };
  };

  app.post<{ Body: { email: string; password: string } }>(
    '/api/auth/login',
    { schema: { tags: ['auth'], summary: 'Log in: an access token and a refresh token (a new session)', body: credentials, response: withErrors({ 200: sessionSchema }, 400, 401, 429) } },
    async (request, reply) => {
      let user: User;
      try {
        user = await users.authenticate(request.body.email, request.body.password, request.ip, throttle);
      } catch (err) {
        if (err instanceof TooManyLoginAttemptsError) void reply.header('retry-after', String(err.retryAfterSeconds));
        throw err;
      }
      if ((await auth.standingOf(user)) === undefined) throw new VelofluxError('VF_ERR_AUTH_INVALID', INVALID_CREDENTIALS);
      const issued = await refreshTokens.issue(user.id);
      return answer(request, reply, user, issued.token, issued.familyId);
    },
  );

  app.post<{ Body: { refreshToken?: string } }>(
    '/api/auth/refresh',
    {
      schema: {
        tags: ['auth'],
        summary: 'Trade a refresh token (in the body, or the vf_refresh cookie with X-VeloFlux-Refresh: cookie) for new tokens; the old one stops working, and presenting it again ends the session',
        body: { type: 'object', additionalProperties: false, properties: { refreshToken: { type: 'string', minLength: 1, maxLength: 200 } } },
        response: withErrors({ 200: sessionSchema }, 400, 401),
      },
    },
    async (request, reply) => {
      const presented = request.body.refreshToken ?? refreshCookieOf(request);
      if (presented === undefined) throw new VelofluxError('VF_ERR_AUTH_REQUIRED', 'A refresh token is required: in the body, or the vf_refresh cookie with X-VeloFlux-Refresh: cookie');
      const rotated = await refreshTokens.rotate(presented);
      const user = await users.get(rotated.userId);
      if (user === undefined || (await auth.standingOf(user)) === undefined) {
        await refreshTokens.revokeSession(rotated.familyId, rotated.userId);
        throw new VelofluxError('VF_ERR_AUTH_INVALID', 'the session belongs to no active user');
      }
      return answer(request, reply, user, rotated.token, rotated.familyId);
    },
  );

  app.get(
    '/api/auth/logout',
    { schema: { tags: ['auth'], summary: 'End the session of this access token (its refresh tokens stop working)', security: bearer, response: withErrors({ 200: { type: 'object', properties: { loggedOut: { type: 'boolean' } } } }, 401) }, onRequest: auth.require('viewer') },
    async (request, reply) => {
      const principal = principalOf(request);
      await refreshTokens.revokeSession(principal.sessionId, principal.userId);
      clearRefreshCookie(reply);
      return { loggedOut: true };
    },
  );

  app.get(
    '/api/auth/me',
    { schema: { tags: ['auth'], summary: 'The user of this access token', security: bearer, response: withErrors({ 200: userSchema }, 401) }, onRequest: auth.require('viewer') },
    async (request) => publicView((await users.get(principalOf(request).userId))!),
  );

  app.post<{ Body: { email: string; password: string; name?: string; role?: (typeof ROLES)[number]; tenant?: string | null; inviteCode?: string } }>(
    '/api/auth/register',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create an account: by an admin (any mode), with an invite (invite mode), or by anyone as a viewer (open mode)',
        body: registration,
        response: withErrors({ 201: userSchema }, 400, 401, 403, 409),
      },
    },
    async (request, reply) => {
      const actor = await optionalActor(request, context);
      const { inviteCode, ...input } = request.body;
      const user = await context.registration.register(input, { ...(actor !== undefined ? { actor } : {}), ...(inviteCode !== undefined ? { inviteCode } : {}) });
      return reply.code(201).send(publicView(user));
    },
  );

  app.post<{ Body: { role: (typeof ROLES)[number]; tenant?: string | null } }>(
    '/api/auth/invites',
    {
      schema: {
        tags: ['auth'],
        summary: 'An invite code for one registration with this role (invite mode)',
        security: bearer,
        body: { type: 'object', additionalProperties: false, required: ['role'], properties: { role: { type: 'string', enum: [...ROLES] }, tenant: { anyOf: [{ type: 'string', pattern: idPattern }, { type: 'null' }] } } },
        response: withErrors({ 201: { type: 'object', properties: { code: { type: 'string' }, expiresAt: { type: 'integer' } } } }, 400, 401, 403),
      },
      onRequest: auth.require('admin'),
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const invite = await context.registration.createInvite({ id: principal.userId, role: principal.role, tenant: principal.tenant }, request.body);
      return reply.code(201).send(invite);
    },
  );
}

/** The caller of a route that works with or without a token (register): a bad token is still an error. */
async function optionalActor(request: FastifyRequest, context: ApiContext): Promise<{ id: string; role: (typeof ROLES)[number]; tenant: string | null } | undefined> {
  const token = bearerTokenOf(request);
  if (token === undefined) return undefined;
  const principal = await context.auth.principalOf(token);
  request.principal = principal;
  requireWritable(request);
  return { id: principal.userId, role: principal.role, tenant: principal.tenant };
}
