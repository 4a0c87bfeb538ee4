/**
 * Password hashing: scrypt with the OWASP parameters in a self-describing string, salted,
 * NFKC-normalised, and a verify that fails closed on anything it did not write. Each hash costs
 * about 0.3 s, so the scrypt cases share one hash.
 */
import t from 'tap';
import { performance } from 'node:perf_hooks';
import { checkPasswordPolicy, dummyVerify, hashPassword, verifyPassword } from '../../../src/shared/auth/passwords.js';

// Composed "é" (U+00E9); the decomposed spelling below is "e" + U+0301.
const PASSWORD = 'correct horse caf\u00e9 staple';

t.test('a hash says its parameters, verifies the password and nothing else', async (t) => {
  const stored = await hashPassword(PASSWORD);
  t.match(stored, /^scrypt\$17\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/, 'N=2^17, r=8, p=1, 16-byte salt, 32-byte key');
  t.equal(await verifyPassword(PASSWORD, stored), true);
  t.equal(await verifyPassword('correct horse cafe\u0301 staple', stored), true, 'the same password typed with a decomposed accent');
  t.equal(await verifyPassword('correct horse caf\u00e9 staplE', stored), false, 'one character off');
  t.not(await hashPassword(PASSWORD), stored, 'a random salt: the same password never hashes the same twice');
});

t.test('a stored string that is not our hash verifies nothing, without running scrypt', async (t) => {
  const started = performance.now();
  for (const stored of ['', 'plaintext', `bcrypt$2b$12$${'a'.repeat(53)}`, 'scrypt$17$8$1$c2FsdA$aGFzaA', `scrypt$30$8$1$${'A'.repeat(22)}$${'A'.repeat(43)}`, `scrypt$17$8$1$${'A'.repeat(22)}$${'A'.repeat(43)}$extra`]) {
    t.equal(await verifyPassword(PASSWORD, stored), false, JSON.stringify(stored.slice(0, 20)));
  }
  t.ok(performance.now() - started < 100, 'refused before deriving (a 2^30 cost would not even fit in memory)');
});

t.test('dummyVerify costs a real verification and always fails', async (t) => {
  const started = performance.now();
  t.equal(await dummyVerify(PASSWORD), false);
  t.ok(performance.now() - started > 50, 'scrypt ran');
});

t.test('the policy is about length, not composition', async (t) => {
  t.same(checkPasswordPolicy('all lowercase words'), [], 'no digit or symbol required');
  t.same(checkPasswordPolicy('x'.repeat(12)), []);
  t.match(checkPasswordPolicy('x'.repeat(11)), [/at least 12 characters/]);
  t.match(checkPasswordPolicy('\u{1F511}'.repeat(11)), [/at least 12 characters/], 'an emoji is one character, not two UTF-16 units');
  t.same(checkPasswordPolicy('\u{1F511}'.repeat(12)), []);
  t.same(checkPasswordPolicy('x'.repeat(1024)), []);
  t.match(checkPasswordPolicy('x'.repeat(1025)), [/at most 1024 bytes/]);
  t.match(checkPasswordPolicy('\u00e9'.repeat(513)), [/at most 1024 bytes/], 'counted in UTF-8 bytes');
});
