/**
 * Refresh tokens against a real embedded store: stored only hashed, rotated on use, a reused
 * token revokes its whole family (sequentially or concurrently), logout and expiry end a session,
 * and prune keeps the records bounded.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENDED_SESSIONS_NAMESPACE, REFRESH_TOKENS_NAMESPACE, RefreshTokens, TOKEN_FAMILIES_NAMESPACE } from '../../../src/shared/auth/refresh-tokens.js';
import { VelofluxError } from '../../../src/shared/errors.js';
import { EmbeddedStateStore } from '../../../src/shared/state/embedded-store.js';

async function setup(t: Test, ttlSeconds = 3600) {
  const store = await EmbeddedStateStore.open(mkdtempSync(join(tmpdir(), 'vf-refresh-')), 'node-1');
  t.teardown(() => store.close());
  const clock = { now: Date.UTC(2025, 0, 1) };
  return { store, clock, tokens: new RefreshTokens(store, { ttlSeconds, clock: () => clock.now }) };
}

async function refused(t: Test, attempt: Promise<unknown>, why: string): Promise<void> {
  await t.rejects(attempt, { code: 'VF_ERR_AUTH_INVALID', status: 401 }, why);
}

t.test('a token is opaque, random and stored only as its hash', async (t) => {
  const { store, tokens } = await setup(t);
  const issued = await tokens.issue('user-1');
  t.match(issued.token, /^[A-Za-z0-9_-]{43}$/, '32 random bytes');
  t.not((await tokens.issue('user-1')).token, issued.token);
  const file = readFileSync(store.fileOf(REFRESH_TOKENS_NAMESPACE), 'utf8');
  t.notOk(file.includes(issued.token), 'the state file does not hold the token');
  t.match(file, /"userId": "user-1"/);
});

t.test('rotation gives a new working token and the old one stops working', async (t) => {
  const { tokens } = await setup(t);
  const first = await tokens.issue('user-1');
  const second = await tokens.rotate(first.token);
  t.match(second, { userId: 'user-1', familyId: first.familyId });
  t.not(second.token, first.token);
  const third = await tokens.rotate(second.token);
  t.equal(third.userId, 'user-1', 'the new token rotates in turn');
  await refused(t, tokens.rotate(first.token), 'the rotated token');
});

t.test('reusing a rotated token revokes the family: its newest token is refused too', async (t) => {
  const { store, tokens } = await setup(t);
  const stolen = await tokens.issue('user-1');
  const otherSession = await tokens.issue('user-1');
  const legit = await tokens.rotate(stolen.token);
  const newest = await tokens.rotate(legit.token);

  await t.rejects(tokens.rotate(stolen.token), { code: 'VF_ERR_AUTH_INVALID', message: /already used/ }, 'the thief replays the first token');
  await refused(t, tokens.rotate(newest.token), 'the legitimate client is logged out too');
  t.match((await store.get(TOKEN_FAMILIES_NAMESPACE, stolen.familyId))?.value, { revoked: true, userId: 'user-1' });
  t.equal((await tokens.rotate(otherSession.token)).userId, 'user-1', 'another session of the same user is unaffected');
  await refused(t, tokens.issue('user-1', stolen.familyId), 'no new token joins a revoked family');
});

t.test('two concurrent rotations of one token: exactly one wins, and the family is revoked', async (t) => {
  const { tokens } = await setup(t);
  const { token } = await tokens.issue('user-1');
  const results = await Promise.allSettled([tokens.rotate(token), tokens.rotate(token)]);
  const won = results.filter((r) => r.status === 'fulfilled');
  const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  t.equal(won.length, 1, 'one rotation succeeded');
  t.equal(lost.length, 1, 'one was refused');
  t.ok(lost[0]!.reason instanceof VelofluxError && lost[0]!.reason.code === 'VF_ERR_AUTH_INVALID');
  // The loser presented a token that had just been used: indistinguishable from a thief racing
  // the client, so the winner's token goes with the family (RFC 9700 §4.14.2).
  await refused(t, tokens.rotate((won[0] as PromiseFulfilledResult<{ token: string }>).value.token), "the winner's new token");
});

t.test('logout revokes the session', async (t) => {
  const { tokens } = await setup(t);
  const first = await tokens.issue('user-1');
  const current = await tokens.rotate(first.token);
  t.equal(await tokens.revoke(current.token), true);
  await refused(t, tokens.rotate(current.token), 'the logged-out token');
  t.equal(await tokens.revoke(current.token), false, 'a second logout finds nothing');
  t.equal(await tokens.revoke('not-a-token'), false);

  const other = await tokens.issue('user-1');
  await tokens.revokeSession(other.familyId, 'user-1');
  await refused(t, tokens.rotate(other.token), 'logged out by the sid of its access token');
});

t.test('an expired, unknown or malformed token is refused', async (t) => {
  const { clock, tokens } = await setup(t, 60);
  const { token } = await tokens.issue('user-1');
  clock.now += 59_000;
  const fresh = await tokens.rotate(token);
  clock.now += 60_000;
  await t.rejects(tokens.rotate(fresh.token), { code: 'VF_ERR_AUTH_INVALID', message: /expired/ });
  await refused(t, tokens.rotate('A'.repeat(43)), 'unknown');
  await refused(t, tokens.rotate(''), 'empty');
  await refused(t, tokens.rotate(`${fresh.token}x`), 'wrong length');
});

t.test('revokeUser ends every session of one user only', async (t) => {
  const { tokens } = await setup(t);
  const a = await tokens.issue('user-1');
  const b = await tokens.issue('user-1');
  const other = await tokens.issue('user-2');
  t.equal(await tokens.revokeUser('user-1'), 2);
  await refused(t, tokens.rotate(a.token), 'first session');
  await refused(t, tokens.rotate(b.token), 'second session');
  t.equal((await tokens.rotate(other.token)).userId, 'user-2');
});

t.test('prune deletes expired tokens, tokens of revoked families, then old revocations', async (t) => {
  const { store, clock, tokens } = await setup(t, 60);
  const live = await tokens.issue('user-1');
  const loggedOut = await tokens.issue('user-2');
  const rotated = await tokens.issue('user-3');
  await tokens.rotate(rotated.token);
  const orphan = await tokens.issue('user-4');
  await tokens.revokeUser('user-4');
  await tokens.revoke(loggedOut.token);
  t.equal((await store.list(REFRESH_TOKENS_NAMESPACE)).size, 4, 'live, rotated-and-used, its successor, and user-4');

  t.equal(await tokens.prune(), 1, "user-4's token: its family is revoked");
  t.equal((await store.list(REFRESH_TOKENS_NAMESPACE)).size, 3);
  await refused(t, tokens.rotate(orphan.token), 'still refused once pruned');

  clock.now += 61_000;
  t.equal(await tokens.prune(), 3, 'every token has expired');
  t.equal((await store.list(TOKEN_FAMILIES_NAMESPACE)).size, 2, 'revocations outlive their tokens by a lifetime');
  clock.now += 60_000;
  t.equal(await tokens.prune(), 2);
  t.equal((await store.list(REFRESH_TOKENS_NAMESPACE)).size + (await store.list(TOKEN_FAMILIES_NAMESPACE)).size, 0, 'nothing left');
  await refused(t, tokens.rotate(live.token), 'an expired token stays refused once pruned');
});

t.test('every way a session ends lists it as ended, so its access tokens can be refused (issue 14, item 4)', async (t) => {
  const { tokens } = await setup(t);
  const loggedOut = await tokens.issue('user-1');
  const byAccessToken = await tokens.issue('user-1');
  const stolen = await tokens.issue('user-1');
  const disabled = await tokens.issue('user-2');
  const live = await tokens.issue('user-3');
  for (const s of [loggedOut, byAccessToken, stolen, disabled, live]) t.notOk(await tokens.isEnded(s.familyId), 'live at first');

  await tokens.revoke(loggedOut.token);
  await tokens.revokeSession(byAccessToken.familyId, 'user-1');
  await tokens.rotate(stolen.token);
  await t.rejects(tokens.rotate(stolen.token), { code: 'VF_ERR_AUTH_INVALID' });
  await tokens.revokeUser('user-2');
  t.ok(await tokens.isEnded(loggedOut.familyId), 'logout with the refresh token');
  t.ok(await tokens.isEnded(byAccessToken.familyId), 'logout with the access token (GET /api/auth/logout)');
  t.ok(await tokens.isEnded(stolen.familyId), 'refresh-token reuse');
  t.ok(await tokens.isEnded(disabled.familyId), "every session of a disabled or deleted user");
  t.notOk(await tokens.isEnded(live.familyId), 'other sessions go on');
});

t.test('an ended-session record lives one access-token lifetime plus a margin, then prune removes it', async (t) => {
  const store = await EmbeddedStateStore.open(mkdtempSync(join(tmpdir(), 'vf-ended-')), 'node-1');
  t.teardown(() => store.close());
  const clock = { now: Date.UTC(2025, 0, 1) };
  const tokens = new RefreshTokens(store, { ttlSeconds: 3600, accessTtlSeconds: 900, clock: () => clock.now });
  const session = await tokens.issue('user-1');
  await tokens.revokeSession(session.familyId, 'user-1');
  t.match((await store.get(ENDED_SESSIONS_NAMESPACE, session.familyId))?.value, { userId: 'user-1', endedAt: clock.now, expiresAt: clock.now + 900_000 + 60_000 });

  clock.now += 900_000 + 30_000;
  await tokens.prune();
  t.ok(await tokens.isEnded(session.familyId), 'still listed while an access token with clock skew could be valid');
  clock.now += 30_000;
  await tokens.prune();
  t.notOk(await tokens.isEnded(session.familyId), 'gone once no access token of it can be valid: the replica stays small');
  await refused(t, tokens.issue('user-1', session.familyId), 'the family itself is still refused');
  t.throws(() => new RefreshTokens(store, { accessTtlSeconds: 0 }), { code: 'VF_ERR_CONFIG_INVALID' });
});
