/**
 * Access tokens of the main API: short-lived JWTs (RFC 7519) signed with HMAC-SHA256 from
 * node:crypto. No JWT library, so the algorithm allow-list stays in our hands: the header's `alg`
 * must be HS256 before the signature is even computed, which closes `alg: none` and algorithm
 * confusion (RFC 8725 §2.1, §3.1). The secret is the one from VELOFLUX_JWT_SECRET (api-secrets.ts).
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { VelofluxError } from '../errors.js';

export const ROLES = ['admin', 'operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** The only algorithm accepted; anything else in a header is refused. */
const ALLOWED_ALGORITHMS: readonly string[] = ['HS256'];
/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash output. */
export const MIN_SECRET_BYTES = 32;
/**
 * Clocks of the instances of a cluster differ a little; a token is still accepted this long after
 * its `exp`, and a token whose `iat`/`nbf` is this far in the future is too (RFC 7519 §4.1.4 allows
 * "a small leeway").
 */
export const CLOCK_SKEW_SECONDS = 30;
/** Far above any token we sign: refuses oversized input before parsing it. */
const MAX_TOKEN_LENGTH = 4096;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export interface AccessTokenOptions {
  readonly secret: Buffer | string;
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
  /** Milliseconds since the epoch; tests move it. */
  readonly clock?: () => number;
}

export interface SessionClaims {
  readonly sub: string;
  readonly role: Role;
  readonly tenant?: string;
  /** The refresh-token family (session) this access token was issued with, for logout. */
  readonly sid?: string;
}

export interface AccessClaims extends SessionClaims {
  readonly iss: string;
  readonly aud: string | readonly string[];
  readonly iat: number;
  readonly exp: number;
  readonly jti: string;
}

export class AccessTokens {
  readonly #secret: Buffer;
  readonly #issuer: string;
  readonly #audience: string;
  readonly #ttlSeconds: number;
  readonly #clock: () => number;
  /** The header never changes: encoded once. */
  readonly #encodedHeader = base64url({ alg: 'HS256', typ: 'JWT' });

  constructor(options: AccessTokenOptions) {
    // A copy: the caller's buffer may be reused or zeroed.
    const secret = typeof options.secret === 'string' ? Buffer.from(options.secret, 'utf8') : Buffer.from(options.secret);
    if (secret.length < MIN_SECRET_BYTES) {
      throw new VelofluxError('VF_ERR_CONFIG_INVALID', `the access-token secret is ${secret.length} bytes; at least ${MIN_SECRET_BYTES} are needed (generate one with \`openssl rand -base64 48\` and set VELOFLUX_JWT_SECRET)`);
    }
    if (!options.issuer) throw new VelofluxError('VF_ERR_CONFIG_INVALID', 'the access-token issuer must not be empty');
    if (!options.audience) throw new VelofluxError('VF_ERR_CONFIG_INVALID', 'the access-token audience must not be empty');
    if (!Number.isSafeInteger(options.ttlSeconds) || options.ttlSeconds < 1) {
      throw new VelofluxError('VF_ERR_CONFIG_INVALID', `the access-token lifetime must be a whole number of seconds >= 1, not ${options.ttlSeconds}`);
    }
    this.#secret = secret;
    this.#issuer = options.issuer;
    this.#audience = options.audience;
    this.#ttlSeconds = options.ttlSeconds;
    this.#clock = options.clock ?? Date.now;
  }

  sign(claims: SessionClaims): { token: string; expiresIn: number } {
    const iat = Math.floor(this.#clock() / 1000);
    const payload: AccessClaims = {
      sub: claims.sub,
      role: claims.role,
      ...(claims.tenant !== undefined ? { tenant: claims.tenant } : {}),
      ...(claims.sid !== undefined ? { sid: claims.sid } : {}),
      iss: this.#issuer,
      aud: this.#audience,
      iat,
      exp: iat + this.#ttlSeconds,
      jti: randomUUID(),
    };
    const signingInput = `${this.#encodedHeader}.${base64url(payload)}`;
    return { token: `${signingInput}.${this.#signature(signingInput)}`, expiresIn: this.#ttlSeconds };
  }

  /**
   * The claims of a token this instance (or one sharing its secret) signed and that is valid now;
   * otherwise VF_ERR_AUTH_INVALID, or VF_ERR_TOKEN_EXPIRED for a genuine token past its `exp` so
   * the client knows to refresh. Checks run cheapest-first and the signature before any claim.
   */
  verify(token: string): AccessClaims {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) throw invalid('it is not a compact JWT');
    const parts = token.split('.');
    if (parts.length !== 3 || !parts.every((part) => BASE64URL.test(part))) throw invalid('it is not a compact JWT');
    const [encodedHeader, encodedPayload, signature] = parts as [string, string, string];

    const header = decodeJson(encodedHeader, 'header');
    if (typeof header.alg !== 'string' || !ALLOWED_ALGORITHMS.includes(header.alg)) throw invalid('its algorithm is not allowed');
    if (header.typ !== undefined && header.typ !== 'JWT') throw invalid('its type is not JWT');
    // RFC 7515 §4.1.11: extensions we do not understand must make the token invalid.
    if (header.crit !== undefined) throw invalid('it has critical header extensions');

    // Comparing the encoded text, not decoded bytes: base64url has several spellings of the same
    // bytes (unused trailing bits), and only the canonical one is ours.
    const expected = Buffer.from(this.#signature(`${encodedHeader}.${encodedPayload}`));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid('its signature does not match');

    const claims = decodeJson(encodedPayload, 'payload');
    const now = this.#clock() / 1000;
    if (!isNumericDate(claims.exp)) throw invalid('it has no expiry');
    if (now > claims.exp + CLOCK_SKEW_SECONDS) throw new VelofluxError('VF_ERR_TOKEN_EXPIRED');
    if (claims.nbf !== undefined && (!isNumericDate(claims.nbf) || claims.nbf > now + CLOCK_SKEW_SECONDS)) throw invalid('it is not valid yet');
    if (!isNumericDate(claims.iat) || claims.iat > now + CLOCK_SKEW_SECONDS) throw invalid('it was issued in the future');
    if (claims.iss !== this.#issuer) throw invalid('it was issued by someone else');
    if (!this.#isForUs(claims.aud)) throw invalid('it is meant for another audience');
    if (typeof claims.sub !== 'string' || claims.sub === '') throw invalid('it names no user');
    if (!isRole(claims.role)) throw invalid('it has no valid role');
    if (claims.tenant !== undefined && typeof claims.tenant !== 'string') throw invalid('its tenant is not a string');
    if (claims.sid !== undefined && typeof claims.sid !== 'string') throw invalid('its session id is not a string');
    if (typeof claims.jti !== 'string') throw invalid('it has no token id');
    return claims as unknown as AccessClaims;
  }

  #isForUs(aud: unknown): boolean {
    if (typeof aud === 'string') return aud === this.#audience;
    return Array.isArray(aud) && aud.includes(this.#audience);
  }

  #signature(signingInput: string): string {
    return createHmac('sha256', this.#secret).update(signingInput).digest('base64url');
  }
}

function invalid(why: string): VelofluxError {
  return new VelofluxError('VF_ERR_AUTH_INVALID', `The token is not valid: ${why}`);
}

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function decodeJson(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw invalid(`its ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`its ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
