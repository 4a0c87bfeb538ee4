/**
 * Identities (issue 14, item 10): emails with invisible, bidi, NUL, markup or mixed-script
 * characters, names with control characters or HTML, and a password of NUL characters are
 * refused; emails are compared NFKC + lower case, so look-alike spellings are one account; and a
 * user stored before these rules still logs in.
 */
import t, { type Test } from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalEmail, displayName, emailProblems, nameProblems } from '../../../src/shared/auth/identity.js';
import { LoginThrottle } from '../../../src/shared/auth/login-throttle.js';
import { checkPasswordPolicy, hashPassword } from '../../../src/shared/auth/passwords.js';
import { USER_EMAILS_NAMESPACE, USERS_NAMESPACE, Users, type User } from '../../../src/shared/auth/users.js';
import { EmbeddedStateStore } from '../../../src/shared/state/embedded-store.js';
import { Tenants } from '../../../src/workers/api/tenants.js';

const PASSWORD = 'a long enough password';

async function openStore(t: Test): Promise<EmbeddedStateStore> {
  const store = await EmbeddedStateStore.open(mkdtempSync(join(tmpdir(), 'vf-identity-')), 'node-1');
  t.teardown(() => store.close());
  return store;
}

const emailOk = (email: string) => emailProblems(canonicalEmail(email)).length === 0;
/** For test names: what is not printable ASCII as <U+XXXX> (a raw U+2028 would break the TAP stream). */
const show = (text: string) => text.replace(/[^\x20-\x7E]/gu, (c) => `<U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}>`);

t.test('emails that are refused', async (t) => {
  const refused: [string, string][] = [
    ['zero-width space', 'ad\u200Ba@example.com'],
    ['zero-width joiner in the domain', 'ada@exa\u200Dmple.com'],
    ['right-to-left override', 'ada\u202Emoc.evil@example.com'],
    ['right-to-left mark', 'ada\u200F@example.com'],
    ['NUL', 'ada\u0000@example.com'],
    ['a newline', 'ada@example.com\nBcc: x@y'],
    ['Hangul filler (an invisible letter)', 'ada\u3164@example.com'],
    ['markup', '<script>alert(1)</script>@example.com'],
    ['markup in the domain', 'ada@<b>example.com'],
    ['angle brackets (a display-name form)', 'Ada <ada@example.com>'],
    ['a quoted local part', '"ada smith"@example.com'],
    ['a space', 'ada smith@example.com'],
    ['two @', 'ada@evil@example.com'],
    ['no domain', 'ada@'],
    ['no local part', '@example.com'],
    ['a leading dot', '.ada@example.com'],
    ['two dots', 'ada..b@example.com'],
    ['an empty label', 'ada@example..com'],
    ['a hyphen at a label edge', 'ada@-example.com'],
    ['Cyrillic а in a Latin domain label', 'ada@p\u0430ypal.com'],
    ['Cyrillic о in a Latin local part', 'b\u043Eb@example.com'],
    ['Greek and Latin in one label', 'ada@\u03B1pple.com'],
    ['a local part over 64 bytes', `${'a'.repeat(65)}@example.com`],
    ['over 254 bytes', `ada@${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com`],
  ];
  for (const [what, email] of refused) t.notOk(emailOk(email), `${what}: ${show(email)}`);
});

t.test('emails that are accepted', async (t) => {
  const accepted = ['ada@example.com', 'admin@localhost', 'ada.lovelace+vf@mail.example.co.uk', "o'brien@example.ie", 'ünïcödé@bücher.de', 'иван@пример.рф', '田中たなか@例え.jp', 'ada@xn--bcher-kva.example', 'ada@пример.com'];
  for (const email of accepted) t.ok(emailOk(email), show(email));
});

t.test('emails compare in canonical form: NFKC and lower case', async (t) => {
  t.equal(canonicalEmail('  Ada@Example.COM '), 'ada@example.com');
  t.equal(canonicalEmail('\uFF21\uFF44\uFF41@example.com'), 'ada@example.com', 'full-width letters are their ASCII forms');
  t.equal(canonicalEmail('jose\u0301@example.com'), canonicalEmail('jos\u00E9@example.com'), 'a decomposed accent is the composed one');

  const users = new Users(await openStore(t));
  await users.create({ email: 'ada@example.com', password: PASSWORD, role: 'viewer' });
  await t.rejects(users.create({ email: '\uFF41\uFF44\uFF41@example.com', password: PASSWORD, role: 'viewer' }), { code: 'VF_ERR_USER_EXISTS' }, 'a full-width spelling is the same account');
  t.equal((await users.findByEmail('ADA@EXAMPLE.COM'))?.email, 'ada@example.com');
});

t.test('users: invisible and mixed-script emails, and names with control characters or markup, are refused', async (t) => {
  const users = new Users(await openStore(t));
  await t.rejects(users.create({ email: 'ad\u200Ba@example.com', password: PASSWORD, role: 'viewer' }), { code: 'VF_ERR_VALIDATION', status: 400, message: /invisible/ });
  await t.rejects(users.create({ email: 'ada@p\u0430ypal.com', password: PASSWORD, role: 'viewer' }), { code: 'VF_ERR_VALIDATION', message: /mix scripts/ });
  await t.rejects(users.create({ email: '<script>@example.com', password: PASSWORD, role: 'viewer' }), { code: 'VF_ERR_VALIDATION', message: /name@domain/ });
  await t.rejects(users.create({ email: 'ada@example.com', password: PASSWORD, role: 'viewer', name: 'Ada\u0000' }), { code: 'VF_ERR_VALIDATION', message: /invisible/ });
  await t.rejects(users.create({ email: 'ada@example.com', password: PASSWORD, role: 'viewer', name: '<img src=x onerror=alert(1)>' }), { code: 'VF_ERR_VALIDATION', message: /< or >/ });
  await t.rejects(users.create({ email: 'ada@example.com', password: PASSWORD, role: 'viewer', tenant: 'acme\u0000' }), { code: 'VF_ERR_VALIDATION', message: /tenant/ });
  const ada = await users.create({ email: 'ada@example.com', password: PASSWORD, role: 'viewer', name: ' \uFF21da Lovelace ' });
  t.equal(ada.name, 'Ada Lovelace', 'a name is stored NFKC-normalised and trimmed');
  await t.rejects(users.update(ada.id, { name: 'Ada\u202E' }), { code: 'VF_ERR_VALIDATION' }, 'and checked on update');
  t.equal(await users.count(), 1);
});

t.test('names: what is refused and what is kept', async (t) => {
  for (const name of ['', 'a\u0000b', 'a\u200Bb', 'a\u202Eb', 'a\u2028b', 'a\uE000b', '<b>x</b>', 'x'.repeat(201)]) t.not(nameProblems(name).length, 0, show(name));
  for (const name of ['Ada Lovelace', 'Zoë', 'Иван Петров', '東京チーム', 'AT&T "Ops"', 'O\'Brien']) t.same(nameProblems(name), [], show(name));
  t.equal(displayName(' \uFF21cme '), 'Acme');
  t.throws(() => displayName('Acme\u0000'), { code: 'VF_ERR_VALIDATION' });
});

t.test('tenants: a name with NUL or HTML is refused, on create and on update', async (t) => {
  const tenants = new Tenants(await openStore(t));
  const input = { id: 'acme', plan: 'free', limits: {}, contact: {}, status: 'active' as const };
  await t.rejects(tenants.create({ ...input, name: 'Acme\u0000' }), { code: 'VF_ERR_VALIDATION', status: 400 });
  await t.rejects(tenants.create({ ...input, name: '<script>alert(1)</script>' }), { code: 'VF_ERR_VALIDATION' });
  const created = await tenants.create({ ...input, name: ' \uFF21cme ' });
  t.equal(created.name, 'Acme');
  await t.rejects(tenants.update('acme', { name: 'Acme\u200B' }), { code: 'VF_ERR_VALIDATION' });
  t.equal((await tenants.update('acme', { name: 'Acme Corp' })).name, 'Acme Corp');
});

t.test('passwords: any Unicode but control characters (NIST SP 800-63B)', async (t) => {
  t.match(checkPasswordPolicy('\u0000'.repeat(12)), [/control characters/]);
  t.match(checkPasswordPolicy('correct horse\u001B[0m battery'), [/control characters/]);
  t.same(checkPasswordPolicy('correct horse battery staple'), [], 'spaces are fine');
  t.same(checkPasswordPolicy('пароль-🔑-密码-كلمة'), [], 'any script, emoji too');
  const users = new Users(await openStore(t));
  await t.rejects(users.create({ email: 'ada@example.com', password: '\u0000'.repeat(12), role: 'viewer' }), { code: 'VF_ERR_PASSWORD_POLICY', status: 400 });
});

t.test('a user stored before these rules keeps logging in', async (t) => {
  const store = await openStore(t);
  const users = new Users(store);
  const throttle = new LoginThrottle(store);
  // As the old code wrote it: email only trimmed and lower-cased, password hashed as today.
  const legacyEmail = '\uFF41da@example.com';
  const user: User = { id: 'legacy-1', email: legacyEmail, role: 'viewer', tenant: null, passwordHash: await hashPassword(PASSWORD), createdAt: new Date().toISOString() };
  await store.put(USERS_NAMESPACE, user.id, user);
  await store.put(USER_EMAILS_NAMESPACE, legacyEmail, { userId: user.id, claimedAt: Date.now() });
  t.equal((await users.authenticate(legacyEmail, PASSWORD, '198.51.100.1', throttle)).id, 'legacy-1');
});
