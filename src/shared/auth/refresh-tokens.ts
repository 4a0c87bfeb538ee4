/**
 * Refresh tokens of the main API: opaque random strings, stored only as their SHA-256 (a leaked
 * state file or Redis dump holds nothing usable), rotated on every use. Every token descends from
 * one login through a family; presenting a token that was already rotated means two parties hold
 * it (the client and a thief), so the whole family is revoked (RFC 9700 §4.14.2). Two concurrent
 * rotations of one token are the same case: exactly one write wins (expectedVersion) and the
 * other revokes the family, so clients must not refresh the same token twice in parallel.
 *
 * Records stay bounded: `prune()` (run now and then by the primary) deletes expired tokens,
 * tokens of revoked families, and revocation records once no token of their family can still be
 * valid. A rotated token is kept until its own expiry so a late reuse is still detected.
 *
 * Ending a session also ends its access tokens (issue 14, item 4): every revocation writes an
 * `ended-sessions` record, which every worker holds a replica of (state/namespaces.ts), so the
 * authenticator refuses the token's `sid` with a local read. That record lives only as long as an
 * access token of the session can (access lifetime + clock skew), not the family record's two
 * refresh lifetimes, which keeps the replica as small as the logouts of the last few minutes.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { VelofluxError } from '../errors.js';
import type { StateStore } from '../state/store.js';

export const REFRESH_TOKENS_NAMESPACE = 'refresh-tokens';
export const TOKEN_FAMILIES_NAMESPACE = 'token-families';
/** Replicated to every worker: the sessions whose access tokens must stop working now. */
export const ENDED_SESSIONS_NAMESPACE = 'ended-sessions';
export const DEFAULT_REFRESH_TTL_SECONDS = 7 * 24 * 3600;
/** Longer than any access-token lifetime a config is likely to set; callers pass the real one. */
export const DEFAULT_ACCESS_TTL_SECONDS = 24 * 3600;
/**
 * An ended-session record outlives the last access token of its session by this much beyond the
 * token's own lifetime: the verifier's clock skew (jwt.ts CLOCK_SKEW_SECONDS) plus a rotation
 * that raced the revocation and signed one more token a moment after it.
 */
const ENDED_SESSION_MARGIN_MS = 60_000;

const TOKEN_BYTES = 32;
/** 32 bytes in base64url, unpadded. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

interface RefreshTokenRecord {
  readonly userId: string;
  readonly familyId: string;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
  /** Set when the token was rotated; presenting it again is reuse. */
  readonly usedAt?: number;
}

/** A session whose access tokens are refused; `expiresAt`: when none of them can be valid anyway. */
export interface EndedSessionRecord {
  readonly userId: string;
  readonly endedAt: number;
  readonly expiresAt: number;
}

interface FamilyRecord {
  readonly userId: string;
  readonly revoked: true;
  readonly revokedAt: number;
  /** When this record may go: no token of the family can be valid by then. */
  readonly expiresAt: number;
}

export interface RefreshTokenOptions {
  readonly ttlSeconds?: number;
  /** The access-token lifetime: how long an ended session must stay listed as ended. */
  readonly accessTtlSeconds?: number;
  /** Milliseconds since the epoch; tests move it. */
  readonly clock?: () => number;
}

export interface IssuedRefreshToken {
  readonly token: string;
  /** The session: goes into the access token's `sid` so logout can name it. */
  readonly familyId: string;
  readonly expiresAt: number;
}

export interface RotatedRefreshToken extends IssuedRefreshToken {
  readonly userId: string;
}

export class RefreshTokens {
  readonly #store: StateStore;
  readonly #ttlMs: number;
  readonly #endedSessionTtlMs: number;
  readonly #clock: () => number;

  constructor(store: StateStore, options: RefreshTokenOptions = {}) {
    const ttlSeconds = options.ttlSeconds ?? DEFAULT_REFRESH_TTL_SECONDS;
    const accessTtlSeconds = options.accessTtlSeconds ?? DEFAULT_ACCESS_TTL_SECONDS;
    for (const [what, value] of [['refresh-token', ttlSeconds], ['access-token', accessTtlSeconds]] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw new VelofluxError('VF_ERR_CONFIG_INVALID', `the ${what} lifetime must be a whole number of seconds >= 1, not ${value}`);
    }
    this.#store = store;
    this.#ttlMs = ttlSeconds * 1000;
    this.#endedSessionTtlMs = accessTtlSeconds * 1000 + ENDED_SESSION_MARGIN_MS;
    this.#clock = options.clock ?? Date.now;
  }

  /** A new token: of a new family (a login) unless `familyId` names a live one. */
  async issue(userId: string, familyId?: string): Promise<IssuedRefreshToken> {
    if (familyId !== undefined && (await this.#isRevoked(familyId))) throw invalid('its session was revoked');
    return this.#mint(userId, familyId ?? randomUUID());
  }

  /** Exchanges a token for a new one of the same family; the presented one stops working. */
  async rotate(token: string): Promise<RotatedRefreshToken> {
    const id = idOf(token);
    const record = id === undefined ? undefined : await this.#store.get<RefreshTokenRecord>(REFRESH_TOKENS_NAMESPACE, id);
    if (id === undefined || record === undefined) throw invalid('it is unknown');
    const { userId, familyId, expiresAt, usedAt } = record.value;
    if (await this.#isRevoked(familyId)) throw invalid('its session was revoked');
    if (usedAt !== undefined) {
      await this.#revokeFamily(familyId, userId);
      throw invalid('it was already used, so its session was revoked');
    }
    const now = this.#clock();
    if (expiresAt <= now) {
      await this.#forget(id, record.version);
      throw invalid('it has expired');
    }
    try {
      await this.#store.put<RefreshTokenRecord>(REFRESH_TOKENS_NAMESPACE, id, { ...record.value, usedAt: now }, { expectedVersion: record.version });
    } catch (err) {
      if (!(err instanceof VelofluxError && err.code === 'VF_ERR_STATE_CONFLICT')) throw err;
      // Someone rotated it between our read and write: a concurrent reuse.
      await this.#revokeFamily(familyId, userId);
      throw invalid('it was already used, so its session was revoked');
    }
    return { userId, ...(await this.#mint(userId, familyId)) };
  }

  /** Logout: the family of this token is revoked. False when the token is unknown. */
  async revoke(token: string): Promise<boolean> {
    const id = idOf(token);
    const record = id === undefined ? undefined : await this.#store.get<RefreshTokenRecord>(REFRESH_TOKENS_NAMESPACE, id);
    if (id === undefined || record === undefined) return false;
    await this.#revokeFamily(record.value.familyId, record.value.userId);
    await this.#forget(id, record.version);
    return true;
  }

  /**
   * Logout by session id: the `sid` of a verified access token (GET /api/auth/logout carries no
   * refresh token). Trusted because we signed it; an unknown id revokes nothing that exists.
   */
  async revokeSession(familyId: string, userId: string): Promise<void> {
    await this.#revokeFamily(familyId, userId);
  }

  /** Every session of a user (password changed, user disabled); returns how many were revoked. */
  async revokeUser(userId: string): Promise<number> {
    const families = new Set<string>();
    for (const record of (await this.#store.list<RefreshTokenRecord>(REFRESH_TOKENS_NAMESPACE)).values()) {
      if (record.value.userId === userId) families.add(record.value.familyId);
    }
    for (const familyId of families) await this.#revokeFamily(familyId, userId);
    return families.size;
  }

  /** True when the session was ended (logout, reuse, user disabled): its access tokens are refused. */
  async isEnded(familyId: string): Promise<boolean> {
    return (await this.#store.get<EndedSessionRecord>(ENDED_SESSIONS_NAMESPACE, familyId)) !== undefined;
  }

  /** Deletes what can no longer matter (see the top of this file); returns how many records went. */
  async prune(): Promise<number> {
    const now = this.#clock();
    let deleted = 0;
    for (const [id, record] of await this.#store.list<EndedSessionRecord>(ENDED_SESSIONS_NAMESPACE)) {
      if (record.value.expiresAt <= now) deleted += (await ignoreConflict(this.#store.delete(ENDED_SESSIONS_NAMESPACE, id, { expectedVersion: record.version }))) ? 1 : 0;
    }
    const families = await this.#store.list<FamilyRecord>(TOKEN_FAMILIES_NAMESPACE);
    for (const [id, record] of await this.#store.list<RefreshTokenRecord>(REFRESH_TOKENS_NAMESPACE)) {
      if (record.value.expiresAt <= now || families.has(record.value.familyId)) deleted += (await this.#forget(id, record.version)) ? 1 : 0;
    }
    for (const [id, record] of families) {
      if (record.value.expiresAt <= now) deleted += (await this.#forgetFamily(id, record.version)) ? 1 : 0;
    }
    return deleted;
  }

  async #mint(userId: string, familyId: string): Promise<IssuedRefreshToken> {
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    const expiresAt = this.#clock() + this.#ttlMs;
    await this.#store.put<RefreshTokenRecord>(REFRESH_TOKENS_NAMESPACE, sha256(token), { userId, familyId, expiresAt }, { expectedVersion: 0 });
    return { token, familyId, expiresAt };
  }

  async #isRevoked(familyId: string): Promise<boolean> {
    return (await this.#store.get<FamilyRecord>(TOKEN_FAMILIES_NAMESPACE, familyId))?.value.revoked === true;
  }

  async #revokeFamily(familyId: string, userId: string): Promise<void> {
    const revokedAt = this.#clock();
    // Tokens of the family expire within one lifetime of the revocation; the second lifetime is
    // a margin for a rotation that raced the revocation and minted one more.
    await this.#store.put<FamilyRecord>(TOKEN_FAMILIES_NAMESPACE, familyId, { userId, revoked: true, revokedAt, expiresAt: revokedAt + 2 * this.#ttlMs });
    // Written second: once it is there, the family is certainly refused too, so no refresh can
    // mint a token the authenticator would accept.
    await this.#store.put<EndedSessionRecord>(ENDED_SESSIONS_NAMESPACE, familyId, { userId, endedAt: revokedAt, expiresAt: revokedAt + this.#endedSessionTtlMs });
  }

  /** Deletes a token record unless it changed meanwhile (then the next prune sees it again). */
  async #forget(id: string, version: number): Promise<boolean> {
    return ignoreConflict(this.#store.delete(REFRESH_TOKENS_NAMESPACE, id, { expectedVersion: version }));
  }

  async #forgetFamily(id: string, version: number): Promise<boolean> {
    return ignoreConflict(this.#store.delete(TOKEN_FAMILIES_NAMESPACE, id, { expectedVersion: version }));
  }
}

/** The record id of a token, or undefined when it cannot be one of ours (no lookup needed). */
function idOf(token: string): string | undefined {
  return typeof token === 'string' && TOKEN_SHAPE.test(token) ? sha256(token) : undefined;
}

function sha256(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

function invalid(why: string): VelofluxError {
  return new VelofluxError('VF_ERR_AUTH_INVALID', `The refresh token is not valid: ${why}`);
}

async function ignoreConflict(deletion: Promise<boolean>): Promise<boolean> {
  try {
    return await deletion;
  } catch (err) {
    if (err instanceof VelofluxError && err.code === 'VF_ERR_STATE_CONFLICT') return false;
    throw err;
  }
}
