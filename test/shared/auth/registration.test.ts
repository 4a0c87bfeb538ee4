/**
 * Who may register: the policy table of each mode (open, invite, admin-only), nobody before the
 * first admin exists, tenant-bound admins kept to their tenant, and invites that are stored
 * hashed, expire, and are used up exactly once (and not by a registration that failed).
 */
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INVITES_NAMESPACE, mayRegister, Registration, type RegistrationOptions } from '../../../src/shared/auth/registration.js';
import { Users } from '../../../src/shared/auth/users.js';
import { EmbeddedStateStore } from '../../../src/shared/state/embedded-store.js';

const PASSWORD = 'a long enough password';
const admin = { id: 'admin-1', role: 'admin' as const };

t.test('before any user exists nobody registers through the API, whatever the mode', async (t) => {
  for (const mode of ['open', 'invite', 'admin-only'] as const) {
    t.match(mayRegister(mode, { usersExist: false }), { allowed: false, code: 'VF_ERR_REGISTRATION_CLOSED', reason: /VELOFLUX_ADMIN_EMAIL/ }, mode);
  }
});

t.test('open: anyone, as a viewer of no tenant', async (t) => {
  t.same(mayRegister('open', { usersExist: true }), { allowed: true, via: 'open', role: 'viewer', tenant: null });
  t.match(mayRegister('open', { usersExist: true, actor: { role: 'viewer' } }), { allowed: true, role: 'viewer' }, 'a signed-in non-admin too');
  t.match(mayRegister('open', { usersExist: true, requested: { role: 'admin' } }), { allowed: false, code: 'VF_ERR_FORBIDDEN' }, 'asking for admin');
  t.match(mayRegister('open', { usersExist: true, requested: { tenant: 'acme' } }), { allowed: false, code: 'VF_ERR_FORBIDDEN' }, 'asking for a tenant');
});

t.test('invite: only with a valid invite, as the invite says', async (t) => {
  const invite = { role: 'operator' as const, tenant: 'acme', createdBy: 'admin-1', expiresAt: Date.now() + 60_000 };
  t.match(mayRegister('invite', { usersExist: true }), { allowed: false, code: 'VF_ERR_INVITE_INVALID' });
  t.same(mayRegister('invite', { usersExist: true, invite }), { allowed: true, via: 'invite', role: 'operator', tenant: 'acme' });
  t.match(mayRegister('invite', { usersExist: true, invite, requested: { role: 'admin' } }), { allowed: false, code: 'VF_ERR_FORBIDDEN' });
});

t.test('admin-only: only an authenticated admin, who picks the role', async (t) => {
  t.match(mayRegister('admin-only', { usersExist: true }), { allowed: false, code: 'VF_ERR_REGISTRATION_CLOSED' }, 'anonymous');
  t.match(mayRegister('admin-only', { usersExist: true, actor: { role: 'operator' } }), { allowed: false, code: 'VF_ERR_FORBIDDEN' }, 'an operator');
  t.same(mayRegister('admin-only', { usersExist: true, actor: admin, requested: { role: 'operator', tenant: 'acme' } }), { allowed: true, via: 'admin', role: 'operator', tenant: 'acme' });
  t.match(mayRegister('admin-only', { usersExist: true, actor: admin }), { allowed: true, role: 'viewer', tenant: null }, 'viewer by default');
  t.match(mayRegister('open', { usersExist: true, actor: admin, requested: { role: 'admin' } }), { allowed: true, via: 'admin', role: 'admin' }, 'an admin in any mode');
});

t.test('an admin bound to a tenant creates users of that tenant only', async (t) => {
  const tenantAdmin = { role: 'admin' as const, tenant: 'acme' };
  t.match(mayRegister('admin-only', { usersExist: true, actor: tenantAdmin }), { allowed: true, tenant: 'acme' });
  t.match(mayRegister('admin-only', { usersExist: true, actor: tenantAdmin, requested: { tenant: 'acme' } }), { allowed: true, tenant: 'acme' });
  t.match(mayRegister('admin-only', { usersExist: true, actor: tenantAdmin, requested: { tenant: 'globex' } }), { allowed: false, code: 'VF_ERR_FORBIDDEN' });
  t.match(mayRegister('admin-only', { usersExist: true, actor: tenantAdmin, requested: { tenant: null } }), { allowed: false, code: 'VF_ERR_FORBIDDEN' }, 'nor users of no tenant');
});

async function setup(t: Test, options: RegistrationOptions = {}) {
  const store = await EmbeddedStateStore.open(mkdtempSync(join(tmpdir(), 'vf-registration-')), 'node-1');
  t.teardown(() => store.close());
  const users = new Users(store);
  await users.create({ email: 'root@example.com', password: PASSWORD, role: 'admin' });
  const clock = { now: Date.now() };
  // The tenants that exist (the API reads them from the tenants replica).
  const tenants = new Set(['acme', 'globex']);
  const tenantExists = async (id: string) => tenants.has(id);
  return { store, users, clock, tenants, registration: new Registration(store, users, { clock: () => clock.now, tenantExists, ...options }) };
}

t.test('Registration defaults to admin-only', async (t) => {
  const { registration, users } = await setup(t);
  t.equal(registration.mode, 'admin-only');
  await t.rejects(registration.register({ email: 'ada@example.com', password: PASSWORD }), { code: 'VF_ERR_REGISTRATION_CLOSED', status: 403 });
  t.match(await registration.register({ email: 'ada@example.com', password: PASSWORD, role: 'operator' }, { actor: admin }), { email: 'ada@example.com', role: 'operator' });
  t.equal(await users.count(), 2);
  t.throws(() => new Registration({} as EmbeddedStateStore, users, { mode: 'everyone' as never }), { code: 'VF_ERR_CONFIG_INVALID' });
});

t.test('open registration creates viewers', async (t) => {
  const { registration } = await setup(t, { mode: 'open' });
  t.match(await registration.register({ email: 'ada@example.com', password: PASSWORD }), { role: 'viewer', tenant: null });
  await t.rejects(registration.register({ email: 'eve@example.com', password: PASSWORD, role: 'admin' }), { code: 'VF_ERR_FORBIDDEN' });
});

t.test('an invite is created by an admin, stored hashed, and redeemed once', async (t) => {
  const { store, registration } = await setup(t, { mode: 'invite' });
  await t.rejects(registration.createInvite({ role: 'operator' }, { role: 'viewer' }), { code: 'VF_ERR_FORBIDDEN' }, 'not by an operator');
  const { code, expiresAt } = await registration.createInvite(admin, { role: 'operator', tenant: 'acme' });
  t.match(code, /^[A-Za-z0-9_-]{32}$/);
  t.ok(expiresAt > Date.now());
  t.notOk(readFileSync(store.fileOf(INVITES_NAMESPACE), 'utf8').includes(code), 'the state file does not hold the code');

  await t.rejects(registration.register({ email: 'ada@example.com', password: PASSWORD }), { code: 'VF_ERR_INVITE_INVALID' }, 'no code');
  await t.rejects(registration.register({ email: 'ada@example.com', password: PASSWORD }, { inviteCode: 'A'.repeat(32) }), { code: 'VF_ERR_INVITE_INVALID' }, 'an unknown code');
  await t.rejects(registration.register({ email: 'ada@example.com', password: 'short' }, { inviteCode: code }), { code: 'VF_ERR_PASSWORD_POLICY' }, 'a failed registration...');
  t.match(await registration.register({ email: 'ada@example.com', password: PASSWORD }, { inviteCode: code }), { role: 'operator', tenant: 'acme' }, '...did not use the invite up');
  await t.rejects(registration.register({ email: 'bob@example.com', password: PASSWORD }, { inviteCode: code }), { code: 'VF_ERR_INVITE_INVALID' }, 'single use');
  t.equal((await store.list(INVITES_NAMESPACE)).size, 0, 'a redeemed invite is deleted');
});

t.test('two registrations racing for one invite: exactly one account', async (t) => {
  const { registration, users } = await setup(t, { mode: 'invite' });
  const { code } = await registration.createInvite(admin, { role: 'viewer' });
  const results = await Promise.allSettled([
    registration.register({ email: 'ada@example.com', password: PASSWORD }, { inviteCode: code }),
    registration.register({ email: 'bob@example.com', password: PASSWORD }, { inviteCode: code }),
  ]);
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  t.match(results.find((r) => r.status === 'rejected'), { reason: { code: 'VF_ERR_INVITE_INVALID' } });
  t.equal(await users.count(), 2, 'root and one newcomer');
});

t.test('an invite expires, and pruning removes it', async (t) => {
  const { registration, clock, store } = await setup(t, { mode: 'invite', inviteTtlSeconds: 60 });
  const { code } = await registration.createInvite({ ...admin, tenant: 'acme' }, { role: 'viewer' });
  await t.rejects(registration.createInvite({ ...admin, tenant: 'acme' }, { role: 'viewer', tenant: 'globex' }), { code: 'VF_ERR_FORBIDDEN' }, 'a tenant admin invites into their tenant only');
  clock.now += 61_000;
  await t.rejects(registration.register({ email: 'ada@example.com', password: PASSWORD }, { inviteCode: code }), { code: 'VF_ERR_INVITE_INVALID' });
  t.equal(await registration.pruneInvites(), 1);
  t.equal((await store.list(INVITES_NAMESPACE)).size, 0);
});

t.test('an account or invite names only a tenant that exists (issue 14, item 7)', async (t) => {
  const { registration, users, tenants } = await setup(t, { mode: 'invite' });
  await t.rejects(registration.register({ email: 'ada@example.com', password: PASSWORD, tenant: 'nope' }, { actor: admin }), { code: 'VF_ERR_VALIDATION', status: 400, message: 'no tenant "nope"' }, 'an admin cannot create a user of an unknown tenant');
  await t.rejects(registration.createInvite(admin, { role: 'viewer', tenant: 'nope' }), { code: 'VF_ERR_VALIDATION', message: 'no tenant "nope"' }, 'nor invite into one');
  t.equal(await users.count(), 1, 'nothing was created');

  const { code } = await registration.createInvite(admin, { role: 'viewer', tenant: 'globex' });
  tenants.delete('globex');
  await t.rejects(registration.register({ email: 'ada@example.com', password: PASSWORD }, { inviteCode: code }), { code: 'VF_ERR_INVITE_INVALID' }, 'an invite into a tenant deleted since is void');
  tenants.add('globex');
  t.match(await registration.register({ email: 'ada@example.com', password: PASSWORD }, { inviteCode: code }), { tenant: 'globex' }, 'and was not used up by the refusal');

  await t.rejects(new Registration({} as EmbeddedStateStore, users).createInvite(admin, { role: 'viewer', tenant: 'acme' }), { code: 'VF_ERR_VALIDATION' }, 'without tenantExists every tenant is unknown');
});
