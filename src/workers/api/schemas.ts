/** JSON schemas shared by several routes of the main API (they also shape the OpenAPI document). */
import { ROLES } from '../../shared/auth/jwt.js';

export const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, requestId: { type: 'string' } }, additionalProperties: true } },
} as const;

export const idPattern = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

export const userSchema = {
  type: 'object',
  required: ['id', 'email', 'role', 'tenant', 'createdAt'],
  properties: {
    id: { type: 'string' },
    email: { type: 'string' },
    name: { type: 'string' },
    role: { type: 'string', enum: [...ROLES] },
    tenant: { type: ['string', 'null'] },
    createdAt: { type: 'string' },
    disabled: { type: 'boolean' },
  },
} as const;

export const sessionSchema = {
  type: 'object',
  // refreshToken is absent when it went into the HttpOnly cookie instead (refresh-cookie.ts).
  required: ['accessToken', 'expiresIn', 'user'],
  properties: { accessToken: { type: 'string' }, refreshToken: { type: 'string' }, expiresIn: { type: 'integer' }, tokenType: { type: 'string' }, user: userSchema },
} as const;

/** The common error answers a route documents. */
export function withErrors<T extends Record<number, unknown>>(ok: T, ...statuses: number[]): T & Record<number, unknown> {
  const out: Record<number, unknown> = { ...ok };
  for (const status of statuses) out[status] = errorSchema;
  return out as T & Record<number, unknown>;
}

export const bearer = [{ bearer: [] }];
