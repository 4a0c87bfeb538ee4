/**
 * Brute-force limits, decided before any hashing: the 6th bad password for one account within
 * the window is 429 whatever the address (and even with the right password), other accounts are
 * unaffected, an address has its own limit, a success takes its attempts back, the limits hold
 * under concurrency, and a window ends.
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

t.test('the 6th bad password for one account is 429 whatever the address, before hashing', async (t) => {
  const store = await openStore(t);
  const users = new Users(store);
  const throttle = new LoginThrottle(store);
  await users.create({ email: 'ada@example.com', password: PASSWORD, role: 'viewer' });
  await users.create({ email: 'grace@example.com', password: PASSWORD, role: 'viewer' });

  for (let i = 1; i <= 5; i++) {
    await t.rejects(users.authenticate(i % 2 ? 'ada@example.com' : ' ADA@Example.com ', 'wrong password!!', `198.51.100.${i}`, throttle), { code: 'VF_ERR_AUTH_INVALID' }, `bad password ${i} from its own address`);
  }
  const started = performance.now();
  const sixth = await users.authenticate('ada@example.com', PASSWORD, '203.0.113.99', throttle).catch((err: unknown) => err);
  const elapsed = performance.now() - started;
  t.ok(sixth instanceof TooManyLoginAttemptsError, 'the 6th attempt is refused, even with the right password, from a fresh address');
  t.match(sixth, { code: 'VF_ERR_TOO_MANY_ATTEMPTS', status: 429, retryAfterSeconds: 900 });
  t.ok(elapsed < 100, `refused without hashing (${elapsed.toFixed(1)} ms; one scrypt takes ~300 ms)`);

  t.equal((await users.authenticate('grace@example.com', PASSWORD, '198.51.100.1', throttle)).email, 'grace@example.com', 'another account, even from an address that took part, is unaffected');
});

t.test('an address has its own limit, across accounts', async (t) => {
  const throttle = await throttleOn(t);
  for (let i = 1; i <= 20; i++) await throttle.check(`user${i}@example.com`, '198.51.100.7');
  await t.rejects(throttle.check('user21@example.com', '198.51.100.7'), { code: 'VF_ERR_TOO_MANY_ATTEMPTS', status: 429 }, 'the 21st attempt from one address');
  await t.resolves(throttle.check('user21@example.com', '198.51.100.8'), 'the same account from another address');
  await t.rejects(throttle.check('user22@example.com', '::ffff:198.51.100.7'), { code: 'VF_ERR_TOO_MANY_ATTEMPTS' }, 'the same address, IPv4-mapped');
});

t.test('the limits are configurable', async (t) => {
  const throttle = await throttleOn(t, { maxFailuresPerAccount: 2, maxFailuresPerAddress: 3 });
  await throttle.check('a@example.com', '198.51.100.1');
  await throttle.check('a@example.com', '198.51.100.2');
  await t.rejects(throttle.check('a@example.com', '198.51.100.3'), { code: 'VF_ERR_TOO_MANY_ATTEMPTS' });
  await throttle.check('b@example.com', '198.51.100.9');
  await throttle.check('c@example.com', '198.51.100.9');
  await throttle.check('d@example.com', '198.51.100.9');
  await t.rejects(throttle.check('e@example.com', '198.51.100.9'), { code: 'VF_ERR_TOO_MANY_ATTEMPTS' });
  t.throws(() => new LoginThrottle({} as EmbeddedStateStore, { maxFailuresPerAccount: 0 }), { code: 'VF_ERR_CONFIG_INVALID' });
});

t.test('a success takes back the attempts before it, for the account and its address', async (t) => {
  const throttle = await throttleOn(t, { maxFailuresPerAddress: 5 });
  let attempt = await throttle.check('ada@example.com', '198.51.100.1');
  for (let i = 0; i < 4; i++) attempt = await throttle.check('ada@example.com', '198.51.100.1');
  await throttle.succeeded(attempt);
  for (let i = 1; i <= 5; i++) await throttle.check('ada@example.com', '198.51.100.1');
  await t.rejects(throttle.check('ada@example.com', '198.51.100.2'), { code: 'VF_ERR_TOO_MANY_ATTEMPTS' }, 'five new failures after the success, then refused');
  await t.rejects(throttle.check('other@example.com', '198.51.100.1'), { code: 'VF_ERR_TOO_MANY_ATTEMPTS' }, 'the address counted the five after the success too');
});

t.test('parallel attempts cannot slip past the limit', async (t) => {
  const throttle = await throttleOn(t);
  const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => throttle.check('ada@example.com', `198.51.100.${i}`)));
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 5, 'exactly five reach the password check');
});

t.test('the window ends', async (t) => {
  const throttle = await throttleOn(t, { windowMs: 200 });
  t.equal(throttle.retryAfterSeconds, 1);
  for (let i = 0; i < 5; i++) await throttle.check('ada@example.com', `198.51.100.${i}`);
  await t.rejects(throttle.check('ada@example.com', '198.51.100.9'), { code: 'VF_ERR_TOO_MANY_ATTEMPTS', retryAfterSeconds: 1 });
  await new Promise((resolve) => setTimeout(resolve, 250));
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
