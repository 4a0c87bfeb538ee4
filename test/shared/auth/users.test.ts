/**
 * Users against a real embedded store: unique normalised emails (also under concurrency), a
 * login that answers unknown email, wrong password and disabled user alike (same code, message
 * and, since scrypt runs in every case, comparable time), a public view without the hash, and
 * the first admin created at start.
 */
import t, { type Test } from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LoginThrottle } from '../../../src/shared/auth/login-throttle.js';
import { bootstrapAdmin, INVALID_CREDENTIALS, publicView, Users, USERS_NAMESPACE } from '../../../src/shared/auth/users.js';
import { EmbeddedStateStore } from '../../../src/shared/state/embedded-store.js';

const PASSWORD = 'a long enough password';

async function setup(t: Test) {
  const store = await EmbeddedStateStore.open(mkdtempSync(join(tmpdir(), 'vf-users-')), 'node-1');
  t.teardown(() => store.close());
  // Generous limits: these tests are about answers, not throttling.
  return { store, users: new Users(store), throttle: new LoginThrottle(store, { maxFailuresPerAccountAndAddress: 1000, freeFailuresPerAccount: 1000, maxFailuresPerAddress: 1000 }) };
}

const silentLog = () => {
  const lines: string[] = [];
  return { lines, info: (object: object, message: string) => void lines.push(`${JSON.stringify(object)} ${message}`) };
};

t.test('create stores a normalised, hashed user; a second one with the same email is refused', async (t) => {
  const { store, users } = await setup(t);
  const ada = await users.create({ email: '  Ada@Example.COM ', password: PASSWORD, role: 'operator', tenant: 'acme', name: 'Ada' });
  t.match(ada, { email: 'ada@example.com', role: 'operator', tenant: 'acme', name: 'Ada' });
  t.match(ada.id, /^[0-9a-f-]{36}$/);
  t.match(ada.passwordHash, /^scrypt\$/);
  t.same(await users.get(ada.id), ada);
  t.same(await users.findByEmail('ADA@example.com'), ada);
  t.same((await store.get(USERS_NAMESPACE, ada.id))?.value, ada, 'in the users namespace, by id');

  await t.rejects(users.create({ email: 'ada@example.com ', password: PASSWORD, role: 'viewer' }), { code: 'VF_ERR_USER_EXISTS', status: 409 });
  await t.rejects(users.create({ email: 'grace@example.com', password: 'too short', role: 'viewer' }), { code: 'VF_ERR_PASSWORD_POLICY', status: 400, message: /at least 12/ });
  await t.rejects(users.create({ email: 'not an email', password: PASSWORD, role: 'root' as never }), { code: 'VF_ERR_VALIDATION', message: /email.*role/ });
  t.equal(await users.count(), 1);
});

t.test('two concurrent creates of one email: exactly one user', async (t) => {
  const { users } = await setup(t);
  const results = await Promise.allSettled([
    users.create({ email: 'ada@example.com', password: PASSWORD, role: 'viewer' }),
    users.create({ email: 'ADA@example.com', password: PASSWORD, role: 'admin' }),
  ]);
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  t.match(results.find((r) => r.status === 'rejected'), { reason: { code: 'VF_ERR_USER_EXISTS' } });
  t.equal(await users.count(), 1);
});

t.test('login: unknown email, wrong password and disabled user look the same', async (t) => {
  const { users, throttle } = await setup(t);
  const ada = await users.create({ email: 'ada@example.com', password: PASSWORD, role: 'viewer' });
  t.equal((await users.authenticate('ADA@example.com', PASSWORD, '198.51.100.1', throttle)).id, ada.id, 'the right password');

  const failure = async (email: string, password: string) => {
    const started = performance.now();
    const err = await users.authenticate(email, password, '198.51.100.1', throttle).catch((e: unknown) => e);
    return { err, ms: performance.now() - started };
  };
  const wrong = await failure('ada@example.com', 'not the password');
  const unknown = await failure('nobody@example.com', 'not the password');
  t.match(wrong.err, { code: 'VF_ERR_AUTH_INVALID', status: 401, message: INVALID_CREDENTIALS });
  t.match(unknown.err, { code: 'VF_ERR_AUTH_INVALID', status: 401, message: INVALID_CREDENTIALS });
  t.equal((wrong.err as Error).message, (unknown.err as Error).message, 'one message: no enumeration');

  // Both paths run one scrypt. Interleaved, so load from other test files hits both alike; the
  // medians stay within a factor of two.
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const wrongTimes = [wrong.ms];
  const unknownTimes = [unknown.ms];
  for (let i = 0; i < 4; i++) {
    unknownTimes.push((await failure(`nobody${i}@example.com`, 'not the password')).ms);
    wrongTimes.push((await failure('ada@example.com', 'not the password')).ms);
  }
  const ratio = median(unknownTimes) / median(wrongTimes);
  t.ok(ratio > 0.5 && ratio < 2, `unknown email / wrong password time ratio ${ratio.toFixed(2)} (${median(unknownTimes).toFixed(0)} ms vs ${median(wrongTimes).toFixed(0)} ms)`);
  t.ok(median(unknownTimes) > 50, 'the unknown-email path really hashes');

  await users.update(ada.id, { disabled: true });
  await t.rejects(users.authenticate('ada@example.com', PASSWORD, '198.51.100.1', throttle), { code: 'VF_ERR_AUTH_INVALID', message: INVALID_CREDENTIALS }, 'disabled, even with the right password');
});

t.test('update changes role, tenant, disabled and password; list and count', async (t) => {
  const { users, throttle } = await setup(t);
  const ada = await users.create({ email: 'ada@example.com', password: PASSWORD, role: 'viewer' });
  await users.create({ email: 'grace@example.com', password: PASSWORD, role: 'viewer', tenant: 'acme' });
  const updated = await users.update(ada.id, { role: 'admin', tenant: 'acme', password: 'a brand new passphrase' });
  t.match(updated, { role: 'admin', tenant: 'acme', email: 'ada@example.com' });
  t.not(updated.passwordHash, ada.passwordHash);
  await t.rejects(users.authenticate('ada@example.com', PASSWORD, '198.51.100.1', throttle), { code: 'VF_ERR_AUTH_INVALID' }, 'the old password');
  t.equal((await users.authenticate('ada@example.com', 'a brand new passphrase', '198.51.100.1', throttle)).role, 'admin');
  t.same((await users.update(ada.id, { tenant: null })).tenant, null);

  await t.rejects(users.update(ada.id, { password: 'short' }), { code: 'VF_ERR_PASSWORD_POLICY' });
  await t.rejects(users.update(ada.id, { role: 'root' as never }), { code: 'VF_ERR_VALIDATION' });
  await t.rejects(users.update('no-such-id', { role: 'viewer' }), { code: 'VF_ERR_NOT_FOUND', status: 404 });

  t.equal(await users.count(), 2);
  t.same((await users.list()).map((u) => u.email), ['ada@example.com', 'grace@example.com']);
  t.same((await users.list({ tenant: 'acme' })).map((u) => u.email), ['grace@example.com']);
  t.same((await users.list({ tenant: null })).map((u) => u.email), ['ada@example.com']);
});

t.test('publicView never includes the password hash', async (t) => {
  const { users } = await setup(t);
  const ada = await users.create({ email: 'ada@example.com', password: PASSWORD, role: 'viewer' });
  const view = publicView(ada);
  t.notOk('passwordHash' in view);
  t.notOk(JSON.stringify(view).includes('scrypt'));
  t.match(view, { id: ada.id, email: 'ada@example.com', role: 'viewer', tenant: null, createdAt: ada.createdAt });
});

t.test('bootstrapAdmin creates the first admin from the environment', async (t) => {
  const { store, users, throttle } = await setup(t);
  const log = silentLog();
  const created = await bootstrapAdmin(store, { VELOFLUX_ADMIN_EMAIL: 'Root@Example.com', VELOFLUX_ADMIN_PASSWORD: PASSWORD }, log);
  t.same(created, { email: 'root@example.com' }, 'no generated password to print');
  t.match(await users.authenticate('root@example.com', PASSWORD, '127.0.0.1', throttle), { role: 'admin', tenant: null });
  t.notOk(log.lines.join('\n').includes(PASSWORD), 'the password is never logged');

  t.equal(await bootstrapAdmin(store, { VELOFLUX_ADMIN_EMAIL: 'other@example.com', VELOFLUX_ADMIN_PASSWORD: PASSWORD }, log), undefined, 'a no-op once users exist');
  t.equal(await users.count(), 1);
});

t.test('bootstrapAdmin without an environment: admin@localhost and a generated password', async (t) => {
  const { store, users, throttle } = await setup(t);
  const log = silentLog();
  const created = await bootstrapAdmin(store, {}, log);
  t.equal(created?.email, 'admin@localhost');
  t.match(created?.generatedPassword, /^[A-Za-z0-9_-]{24}$/);
  t.equal((await users.authenticate('admin@localhost', created!.generatedPassword!, '127.0.0.1', throttle)).role, 'admin', 'the printed password works');
  t.notOk(log.lines.join('\n').includes(created!.generatedPassword!), 'only the caller prints it, once');
});

t.test('bootstrapAdmin refuses a weak password from the environment', async (t) => {
  const { store, users } = await setup(t);
  await t.rejects(bootstrapAdmin(store, { VELOFLUX_ADMIN_PASSWORD: 'admin' }, silentLog()), { code: 'VF_ERR_CONFIG_INVALID', message: /VELOFLUX_ADMIN_PASSWORD: .*at least 12/ });
  await t.rejects(bootstrapAdmin(store, { VELOFLUX_ADMIN_EMAIL: 'nope', VELOFLUX_ADMIN_PASSWORD: PASSWORD }, silentLog()), { code: 'VF_ERR_CONFIG_INVALID', message: /VELOFLUX_ADMIN_EMAIL/ });
  t.equal(await users.count(), 0);
});
