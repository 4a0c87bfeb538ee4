/**
 * Access tokens: what is signed comes back, and everything else is refused: tampering, any
 * algorithm but HS256 (checked before the signature), expiry, a future nbf/iat, another issuer or
 * audience, missing claims, and a signing secret too short to start with.
 */
import t, { type Test } from 'tap';
import { createHmac } from 'node:crypto';
import { AccessTokens, CLOCK_SKEW_SECONDS, type AccessClaims } from '../../../src/shared/auth/jwt.js';
import { VelofluxError } from '../../../src/shared/errors.js';

const SECRET = 'k'.repeat(48);
const NOW_MS = Date.UTC(2025, 0, 1);
const now = Math.floor(NOW_MS / 1000);

function tokens(options: { clock?: () => number; audience?: string; issuer?: string } = {}): AccessTokens {
  return new AccessTokens({ secret: SECRET, issuer: options.issuer ?? 'veloflux', audience: options.audience ?? 'veloflux-api', ttlSeconds: 900, clock: options.clock ?? (() => NOW_MS) });
}

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A token signed with our secret by hand, so only the header or claims under test are wrong. */
function forge(header: object, claims: object, hash = 'sha256'): string {
  const input = `${encode(header)}.${encode(claims)}`;
  return `${input}.${createHmac(hash, SECRET).update(input).digest('base64url')}`;
}

const goodClaims = { sub: 'user-1', role: 'viewer', iss: 'veloflux', aud: 'veloflux-api', iat: now, exp: now + 900, jti: 'j' };

/** The error `fn` throws (it must throw). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

function refuses(t: Test, token: string, code: string, why: string): void {
  const err = thrown(() => tokens().verify(token));
  t.ok(err instanceof VelofluxError && err.code === code && err.status === 401, why);
}

t.test('a signed token verifies with its claims', async (t) => {
  const { token, expiresIn } = tokens().sign({ sub: 'user-1', role: 'operator', tenant: 'acme', sid: 'family-1' });
  t.equal(expiresIn, 900);
  const [header] = token.split('.');
  t.same(JSON.parse(Buffer.from(header!, 'base64url').toString()), { alg: 'HS256', typ: 'JWT' });
  const claims: AccessClaims = tokens().verify(token);
  t.match(claims, { sub: 'user-1', role: 'operator', tenant: 'acme', sid: 'family-1', iss: 'veloflux', aud: 'veloflux-api', iat: now, exp: now + 900 });
  t.match(claims.jti, /^[0-9a-f-]{36}$/);
  t.not(tokens().verify(tokens().sign({ sub: 'user-1', role: 'operator' }).token).jti, claims.jti, 'a fresh jti per token');
  t.same(tokens().verify(forge({ alg: 'HS256' }, goodClaims)).sub, 'user-1', 'typ may be absent');
});

t.test('tampering with the payload or the signature is refused', async (t) => {
  const { token } = tokens().sign({ sub: 'user-1', role: 'viewer' });
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  refuses(t, `${header}.${encode({ ...claims, role: 'admin' })}.${signature}`, 'VF_ERR_AUTH_INVALID', 'role raised to admin');
  refuses(t, `${header}.${encode({ ...claims, exp: now + 99999 })}.${signature}`, 'VF_ERR_AUTH_INVALID', 'expiry pushed back');
  const flipped = signature[10] === 'A' ? 'B' : 'A';
  refuses(t, `${header}.${payload}.${signature.slice(0, 10)}${flipped}${signature.slice(11)}`, 'VF_ERR_AUTH_INVALID', 'one signature character changed');
  // The last of 43 characters carries 4 bits and 2 unused ones: other spellings decode to the
  // same bytes, and must be refused all the same.
  for (const last of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_') {
    if (last === signature.at(-1)) continue;
    t.throws(() => tokens().verify(`${header}.${payload}.${signature.slice(0, -1)}${last}`), { code: 'VF_ERR_AUTH_INVALID' });
  }
  refuses(t, `${header}.${payload}.`, 'VF_ERR_AUTH_INVALID', 'no signature');
  refuses(t, `${header}.${payload}.${signature}=`, 'VF_ERR_AUTH_INVALID', 'padding');
  refuses(t, `${header}.${payload}`, 'VF_ERR_AUTH_INVALID', 'two parts');
  refuses(t, `${token}.${signature}`, 'VF_ERR_AUTH_INVALID', 'four parts');
  refuses(t, 'not a token', 'VF_ERR_AUTH_INVALID', 'garbage');
  refuses(t, `${'a'.repeat(5000)}.b.c`, 'VF_ERR_AUTH_INVALID', 'oversized');
  const otherSecret = new AccessTokens({ secret: 'z'.repeat(32), issuer: 'veloflux', audience: 'veloflux-api', ttlSeconds: 900, clock: () => NOW_MS });
  refuses(t, otherSecret.sign({ sub: 'user-1', role: 'admin' }).token, 'VF_ERR_AUTH_INVALID', 'signed with another secret');
});

t.test('only HS256 is accepted, whatever the token is signed with', async (t) => {
  const input = `${encode({ alg: 'none', typ: 'JWT' })}.${encode(goodClaims)}`;
  refuses(t, `${input}.`, 'VF_ERR_AUTH_INVALID', 'alg none, empty signature');
  refuses(t, `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`, 'VF_ERR_AUTH_INVALID', 'alg none with a valid HS256 signature');
  refuses(t, forge({ alg: 'None', typ: 'JWT' }, goodClaims), 'VF_ERR_AUTH_INVALID', 'alg None');
  refuses(t, forge({ alg: 'HS512', typ: 'JWT' }, goodClaims, 'sha512'), 'VF_ERR_AUTH_INVALID', 'HS512, correctly signed with our secret');
  refuses(t, forge({ alg: 'HS512', typ: 'JWT' }, goodClaims), 'VF_ERR_AUTH_INVALID', 'HS512 header over an HS256 signature');
  refuses(t, forge({ alg: 'RS256', typ: 'JWT' }, goodClaims), 'VF_ERR_AUTH_INVALID', 'RS256 (algorithm confusion)');
  refuses(t, forge({ typ: 'JWT' }, goodClaims), 'VF_ERR_AUTH_INVALID', 'no alg');
  refuses(t, forge({ alg: 'HS256', typ: 'JWE' }, goodClaims), 'VF_ERR_AUTH_INVALID', 'another typ');
  refuses(t, forge({ alg: 'HS256', crit: ['exp'] }, goodClaims), 'VF_ERR_AUTH_INVALID', 'critical extensions');
});

t.test('expiry, with a bounded clock skew', async (t) => {
  const { token } = tokens().sign({ sub: 'user-1', role: 'viewer' });
  const at = (seconds: number) => tokens({ clock: () => NOW_MS + seconds * 1000 });
  t.equal(at(900 + CLOCK_SKEW_SECONDS - 1).verify(token).sub, 'user-1', 'just past exp, within the skew');
  t.throws(() => at(900 + CLOCK_SKEW_SECONDS + 1).verify(token), { code: 'VF_ERR_TOKEN_EXPIRED', status: 401 });
  refuses(t, forge({ alg: 'HS256' }, { ...goodClaims, exp: undefined }), 'VF_ERR_AUTH_INVALID', 'no exp');
  refuses(t, forge({ alg: 'HS256' }, { ...goodClaims, exp: String(now + 900) }), 'VF_ERR_AUTH_INVALID', 'exp as a string');
});

t.test('a token from the future is refused', async (t) => {
  refuses(t, forge({ alg: 'HS256' }, { ...goodClaims, nbf: now + 120 }), 'VF_ERR_AUTH_INVALID', 'nbf two minutes ahead');
  refuses(t, forge({ alg: 'HS256' }, { ...goodClaims, iat: now + 120 }), 'VF_ERR_AUTH_INVALID', 'iat two minutes ahead');
  t.equal(tokens().verify(forge({ alg: 'HS256' }, { ...goodClaims, nbf: now + 10, iat: now + 10 })).sub, 'user-1', 'a clock ahead by less than the skew');
});

t.test('another issuer or audience is refused; an audience list naming ours is accepted', async (t) => {
  refuses(t, tokens({ audience: 'billing' }).sign({ sub: 'user-1', role: 'viewer' }).token, 'VF_ERR_AUTH_INVALID', 'wrong audience');
  refuses(t, tokens({ issuer: 'someone-else' }).sign({ sub: 'user-1', role: 'viewer' }).token, 'VF_ERR_AUTH_INVALID', 'wrong issuer');
  refuses(t, forge({ alg: 'HS256' }, { ...goodClaims, aud: ['billing', 'other'] }), 'VF_ERR_AUTH_INVALID', 'a list without ours');
  refuses(t, forge({ alg: 'HS256' }, { ...goodClaims, aud: undefined }), 'VF_ERR_AUTH_INVALID', 'no audience');
  t.equal(tokens().verify(forge({ alg: 'HS256' }, { ...goodClaims, aud: ['billing', 'veloflux-api'] })).sub, 'user-1');
});

t.test('a token without a user or a known role is refused', async (t) => {
  refuses(t, forge({ alg: 'HS256' }, { ...goodClaims, sub: undefined }), 'VF_ERR_AUTH_INVALID', 'no sub');
  refuses(t, forge({ alg: 'HS256' }, { ...goodClaims, sub: '' }), 'VF_ERR_AUTH_INVALID', 'empty sub');
  refuses(t, forge({ alg: 'HS256' }, { ...goodClaims, role: undefined }), 'VF_ERR_AUTH_INVALID', 'no role');
  refuses(t, forge({ alg: 'HS256' }, { ...goodClaims, role: 'root' }), 'VF_ERR_AUTH_INVALID', 'unknown role');
  refuses(t, forge({ alg: 'HS256' }, { ...goodClaims, tenant: 7 }), 'VF_ERR_AUTH_INVALID', 'tenant not a string');
  refuses(t, forge({ alg: 'HS256' }, ['not', 'an', 'object']), 'VF_ERR_AUTH_INVALID', 'payload an array');
});

t.test('a secret shorter than 32 bytes refuses to start, saying how to make one', async (t) => {
  const err = thrown(() => new AccessTokens({ secret: 'x'.repeat(31), issuer: 'veloflux', audience: 'veloflux-api', ttlSeconds: 900 }));
  t.ok(err instanceof VelofluxError && err.code === 'VF_ERR_CONFIG_INVALID', 'VF_ERR_CONFIG_INVALID');
  t.match((err as Error).message, /31 bytes.*at least 32.*openssl rand -base64 48/);
  t.throws(() => new AccessTokens({ secret: Buffer.alloc(16), issuer: 'veloflux', audience: 'veloflux-api', ttlSeconds: 900 }), { code: 'VF_ERR_CONFIG_INVALID' });
  t.throws(() => new AccessTokens({ secret: SECRET, issuer: 'veloflux', audience: 'veloflux-api', ttlSeconds: 0 }), { code: 'VF_ERR_CONFIG_INVALID' });
  const fromBuffer = new AccessTokens({ secret: Buffer.from(SECRET), issuer: 'veloflux', audience: 'veloflux-api', ttlSeconds: 900, clock: () => NOW_MS });
  t.equal(tokens().verify(fromBuffer.sign({ sub: 'user-1', role: 'admin' }).token).role, 'admin', 'a Buffer secret is the same key as its string');
});
