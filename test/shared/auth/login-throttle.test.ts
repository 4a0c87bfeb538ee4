/**
 * Brute-force limits, decided before any hashing, that slow a guesser without locking the real
 * user out (issue 14, item 9): bad passwords lock one address out of one account only, the
 * account's owner still logs in from elsewhere, an address has its own limit across accounts,
 * an account guessed from many addresses is paced with a delay that doubles up to a cap (429 with
 * Retry-After), a success takes its attempts back, the limits hold under concurrency, and a
 * window ends.
 */
import t, { type Test } from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { addressKey, LoginThrottle, TooManyLoginAttemptsError, type LoginThrottleOptions } from '../../../src/shared/auth/login-throttle.js';
import { Users } from '../../../src/shared/auth/users.js';
import { EmbeddedStateStore } from '../../../src/shared/state/embedded-store.js';

async function openStore(t: Test): Promise<EmbeddedStateStore> {
  const store = await EmbeddedStateStore.open(mkdtempSync(join(tmpdir(), 'vf-throttle-')), 'node-1');
  t.teardown(() => store.close());
  return store;
}

async function throttleOn(t: Test, options: LoginThrottleOptions = {}) {
  return new LoginThrottle(await openStore(t), options);
}

const PASSWORD = 'a long enough password';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('six bad passwords lock that address out of that account only: the owner logs in from another address', async (t) => {
  const store = await openStore(t);
  const users = new Users(store);
  const throttle = new LoginThrottle(store);
  await users.create({ email: 'admin@localhost', password: PASSWORD, role: 'admin' });
  await users.create({ email: 'grace@example.com', password: PASSWORD, role: 'viewer' });

  for (let i = 1; i <= 5; i++) {
    await t.rejects(users.authenticate(i % 2 ? 'admin@localhost' : ' ADMIN@Localhost ', 'wrong password!!', '198.51.100.66', throttle), { code: 'VF_ERR_AUTH_INVALID' }, `bad password ${i}`);
  }
  const started = performance.now();
  const sixth = await users.authenticate('admin@localhost', PASSWORD, '198.51.100.66', throttle).catch((err: unknown) => err);
  const elapsed = performance.now() - started;
  t.ok(sixth instanceof TooManyLoginAttemptsError, 'the 6th attempt from that address is refused, even with the right password');
  t.match(sixth, { code: 'VF_ERR_TOO_MANY_ATTEMPTS', status: 429, retryAfterSeconds: 900 });
  t.ok(elapsed < 100, `refused without hashing (${elapsed.toFixed(1)} ms; one scrypt takes ~300 ms)`);

  t.equal((await users.authenticate('admin@localhost', PASSWORD, '203.0.113.7', throttle)).email, 'admin@localhost', 'the owner, from another address, logs in');
  t.equal((await users.authenticate('grace@example.com', PASSWORD, '198.51.100.66', throttle)).email, 'grace@example.com', 'another account from the locked address is unaffected');
});

t.test('an address has its own limit, across accounts', async (t) => {
  const throttle = await throttleOn(t);
  for (let i = 1; i <= 20; i++) await throttle.check(`user${i}@example.com`, '198.51.100.7');
  await t.rejects(throttle.check('user21@example.com', '198.51.100.7'), { code: 'VF_ERR_TOO_MANY_ATTEMPTS', status: 429 }, 'the 21st attempt from one address');
  await t.resolves(throttle.check('user21@example.com', '198.51.100.8'), 'the same account from another address');
  await t.rejects(throttle.check('user22@example.com', '::ffff:198.51.100.7'), { code: 'VF_ERR_TOO_MANY_ATTEMPTS' }, 'the same address, IPv4-mapped');
});

t.test('an account guessed from many addresses is paced: a delay that doubles up to a cap, with Retry-After', async (t) => {
  const throttle = await throttleOn(t, { freeFailuresPerAccount: 3, minDelayMs: 200, maxDelayMs: 600 });
  let address = 0;
  const attempt = (email = 'ada@example.com') => throttle.check(email, `198.51.100.${++address}`).then(() => 'ok', (err: TooManyLoginAttemptsError) => `429 retry-after ${err.retryAfterSeconds}`);
  t.same([await attempt(), await attempt(), await attempt()], ['ok', 'ok', 'ok'], 'the free attempts, each from a fresh address');
  t.equal(await attempt(), 'ok', 'the first paced attempt opens a 200 ms slot');
  t.equal(await attempt(), '429 retry-after 1', 'the next one within it is refused, before hashing, with Retry-After');
  t.equal(await attempt('grace@example.com'), 'ok', 'another account is not paced');
  await sleep(300);
  t.equal(await attempt(), 'ok', 'once the slot is over, one more attempt; it opens a longer slot (200 ms doubled twice: 800, capped to 600)');
  await sleep(300);
  t.equal(await attempt(), '429 retry-after 1', '300 ms later: refused (a delay that did not grow would have let it through)');
  await sleep(400);
  t.equal(await attempt(), 'ok', '700 ms later: allowed (a delay that did not stop at the cap would still refuse)');
  t.equal(await attempt(), '429 retry-after 1');

  const defaults = await throttleOn(t);
  const refused: number[] = [];
  for (let i = 0; i < 40; i++) await defaults.check('ada@example.com', `203.0.113.${i}`).catch((err: TooManyLoginAttemptsError) => refused.push(err.retryAfterSeconds));
  t.equal(refused.length, 40 - 11, 'by default, 10 free attempts and one paced one get through a burst');
  t.equal(Math.max(...refused), 60, 'and the wait never exceeds a minute');
});

t.test('the limits are configurable', async (t) => {
  const throttle = await throttleOn(t, { maxFailuresPerAccountAndAddress: 2, maxFailuresPerAddress: 3 });
  await throttle.check('a@example.com', '198.51.100.1');
  await throttle.check('a@example.com', '198.51.100.1');
  await t.rejects(throttle.check('a@example.com', '198.51.100.1'), { code: 'VF_ERR_TOO_MANY_ATTEMPTS' });
  await t.resolves(throttle.check('a@example.com', '198.51.100.2'));
  await throttle.check('b@example.com', '198.51.100.9');
  await throttle.check('c@example.com', '198.51.100.9');
  await throttle.check('d@example.com', '198.51.100.9');
  await t.rejects(throttle.check('e@example.com', '198.51.100.9'), { code: 'VF_ERR_TOO_MANY_ATTEMPTS' });
  t.throws(() => new LoginThrottle({} as EmbeddedStateStore, { maxFailuresPerAccountAndAddress: 0 }), { code: 'VF_ERR_CONFIG_INVALID' });
  t.throws(() => new LoginThrottle({} as EmbeddedStateStore, { minDelayMs: 2000, maxDelayMs: 1000 }), { code: 'VF_ERR_CONFIG_INVALID' });
});

t.test('a success takes back the attempts before it, for the account and its address', async (t) => {
  const throttle = await throttleOn(t, { maxFailuresPerAddress: 5 });
  let attempt = await throttle.check('ada@example.com', '198.51.100.1');
  for (let i = 0; i < 4; i++) attempt = await throttle.check('ada@example.com', '198.51.100.1');
  await throttle.succeeded(attempt);
  for (let i = 1; i <= 5; i++) await throttle.check('ada@example.com', '198.51.100.1');
  await t.rejects(throttle.check('ada@example.com', '198.51.100.1'), { code: 'VF_ERR_TOO_MANY_ATTEMPTS' }, 'five new failures after the success, then refused');
  await t.rejects(throttle.check('other@example.com', '198.51.100.1'), { code: 'VF_ERR_TOO_MANY_ATTEMPTS' }, 'the address counted the five after the success too');
});

t.test('parallel attempts cannot slip past the limits', async (t) => {
  const throttle = await throttleOn(t);
  const oneAddress = await Promise.allSettled(Array.from({ length: 12 }, () => throttle.check('ada@example.com', '198.51.100.1')));
  t.equal(oneAddress.filter((r) => r.status === 'fulfilled').length, 5, 'from one address: exactly five reach the password check');
  const manyAddresses = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => throttle.check('grace@example.com', `203.0.113.${i}`)));
  t.equal(manyAddresses.filter((r) => r.status === 'fulfilled').length, 11, 'from many: the ten free attempts and one paced one');
});

t.test('an account is one account however its email is spelled', async (t) => {
  const throttle = await throttleOn(t, { maxFailuresPerAccountAndAddress: 2 });
  await throttle.check('ada@example.com', '198.51.100.1');
  await throttle.check(' ADA@Example.com', '198.51.100.1');
  await t.rejects(throttle.check('\uFF41\uFF44\uFF41@example.com', '198.51.100.1'), { code: 'VF_ERR_TOO_MANY_ATTEMPTS' }, 'full-width letters are the same account');
});

t.test('the window ends', async (t) => {
  const throttle = await throttleOn(t, { windowMs: 200 });
  t.equal(throttle.retryAfterSeconds, 1);
  for (let i = 0; i < 5; i++) await throttle.check('ada@example.com', '198.51.100.9');
  await t.rejects(throttle.check('ada@example.com', '198.51.100.9'), { code: 'VF_ERR_TOO_MANY_ATTEMPTS', retryAfterSeconds: 1 });
  await sleep(250);
  await t.resolves(throttle.check('ada@example.com', '198.51.100.9'), 'allowed again once the window is over');
});

t.test('addresses are keyed per client: IPv4, IPv4-mapped, and IPv6 by its /64', async (t) => {
  t.equal(addressKey('198.51.100.7'), '198.51.100.7');
  t.equal(addressKey('::ffff:198.51.100.7'), '198.51.100.7');
  t.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  t.equal(addressKey('2001:0DB8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64', 'the same /64, written out');
  t.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  t.equal(addressKey('::1'), '0:0:0:0::/64');
  t.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  t.equal(addressKey('64:ff9b::198.51.100.7'), '64:ff9b:0:0::/64');
});
