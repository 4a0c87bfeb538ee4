/**
 * Account lifecycle against a real embedded store (issue 14, item 7): role changes, disabling and
 * deleting end sessions, a tenant admin reaches only its tenant's accounts (others are "not
 * found"), the last active platform admin stays, and a deleted tenant's accounts go with it.
 */
import t, { type Test } from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Accounts, isActivePlatformAdmin } from '../../../src/shared/auth/accounts.js';
import { RefreshTokens } from '../../../src/shared/auth/refresh-tokens.js';
import { Users, type NewUser } from '../../../src/shared/auth/users.js';
import { EmbeddedStateStore } from '../../../src/shared/state/embedded-store.js';

const PASSWORD = 'a long enough password';

async function setup(t: Test) {
  const store = await EmbeddedStateStore.open(mkdtempSync(join(tmpdir(), 'vf-accounts-')), 'node-1');
  t.teardown(() => store.close());
  const users = new Users(store);
  const sessions = new RefreshTokens(store);
  const make = (email: string, role: NewUser['role'], tenant: string | null = null) => users.create({ email, password: PASSWORD, role, tenant });
  const root = await make('root@example.com', 'admin');
  return { store, users, sessions, make, root, accounts: new Accounts(users, sessions), asRoot: { id: root.id, role: 'admin' as const, tenant: null } };
}

t.test('disabling a user ends every session; enabling lets them log in again', async (t) => {
  const { accounts, sessions, make, asRoot } = await setup(t);
  const ada = await make('ada@example.com', 'operator');
  const session = await sessions.issue(ada.id);
  t.match(await accounts.change(asRoot, ada.id, { disabled: true }), { id: ada.id, disabled: true });
  t.ok(await sessions.isEnded(session.familyId), 'the session ended');
  await t.rejects(sessions.rotate(session.token), { code: 'VF_ERR_AUTH_INVALID' }, 'its refresh token is dead');
  t.match(await accounts.change(asRoot, ada.id, { disabled: false, role: 'viewer' }), { disabled: false, role: 'viewer' });
});

t.test('deleting a user frees the email and ends their sessions', async (t) => {
  const { accounts, users, sessions, make, asRoot } = await setup(t);
  const ada = await make('ada@example.com', 'viewer');
  const session = await sessions.issue(ada.id);
  await accounts.remove(asRoot, ada.id);
  t.equal(await users.get(ada.id), undefined);
  t.equal(await users.findByEmail('ada@example.com'), undefined);
  t.ok(await sessions.isEnded(session.familyId));
  t.ok(await make('ada@example.com', 'viewer'), 'the email can be used again');
  await t.rejects(accounts.remove(asRoot, ada.id), { code: 'VF_ERR_NOT_FOUND', status: 404 }, 'a second delete: not found');
});

t.test('the last active platform admin cannot be demoted, disabled or deleted', async (t) => {
  const { accounts, make, root, asRoot } = await setup(t);
  for (const [what, attempt] of [
    ['demoted', accounts.change(asRoot, root.id, { role: 'operator' })],
    ['disabled', accounts.change(asRoot, root.id, { disabled: true })],
    ['deleted', accounts.remove(asRoot, root.id)],
  ] as const) {
    await t.rejects(attempt, { code: 'VF_ERR_LAST_ADMIN', status: 409 }, what);
  }
  // Tenant admins and disabled admins do not count as someone who can manage the instance.
  await make('acme-admin@example.com', 'admin', 'acme');
  const sleeper = await make('sleeper@example.com', 'admin');
  await accounts.change(asRoot, sleeper.id, { disabled: true });
  await t.rejects(accounts.change(asRoot, root.id, { role: 'viewer' }), { code: 'VF_ERR_LAST_ADMIN' }, 'a tenant admin and a disabled admin are not a second platform admin');

  await accounts.change(asRoot, sleeper.id, { disabled: false });
  t.match(await accounts.change(asRoot, root.id, { role: 'operator' }), { role: 'operator' }, 'with a second active platform admin, the first may step down');
  t.notOk(isActivePlatformAdmin({ role: 'operator', tenant: null }));
  await t.rejects(accounts.remove({ id: sleeper.id, role: 'admin', tenant: null }, sleeper.id), { code: 'VF_ERR_LAST_ADMIN' }, 'now the other one is the last');
});

t.test("a tenant admin reaches only its tenant's accounts; others answer like missing ones", async (t) => {
  const { accounts, make } = await setup(t);
  const acmeAdmin = await make('a@acme.test', 'admin', 'acme');
  const acmeViewer = await make('v@acme.test', 'viewer', 'acme');
  const globexViewer = await make('v@globex.test', 'viewer', 'globex');
  const actor = { id: acmeAdmin.id, role: 'admin' as const, tenant: 'acme' };
  t.match(await accounts.change(actor, acmeViewer.id, { role: 'operator' }), { role: 'operator' });
  const other = await accounts.change(actor, globexViewer.id, { disabled: true }).catch((err: unknown) => err);
  const missing = await accounts.change(actor, 'no-such-id', { disabled: true }).catch((err: unknown) => err);
  t.match(other, { code: 'VF_ERR_NOT_FOUND', message: 'No user has this id' });
  t.same([(other as Error).message, (other as { code: string }).code], [(missing as Error).message, (missing as { code: string }).code], 'same code and message');
  await t.rejects(accounts.remove(actor, globexViewer.id), { code: 'VF_ERR_NOT_FOUND' });
  await t.rejects(accounts.change({ role: 'operator' }, acmeViewer.id, { disabled: true }), { code: 'VF_ERR_FORBIDDEN' }, 'an operator changes no account');
});

t.test("retiring a tenant deletes its accounts and ends their sessions, nobody else's", async (t) => {
  const { accounts, users, sessions, make, root } = await setup(t);
  const acme = [await make('a@acme.test', 'admin', 'acme'), await make('v@acme.test', 'viewer', 'acme')];
  const globex = await make('v@globex.test', 'viewer', 'globex');
  const acmeSession = await sessions.issue(acme[1]!.id);
  const globexSession = await sessions.issue(globex.id);
  t.equal(await accounts.retireTenant('acme'), 2);
  t.same((await users.list()).map((u) => u.id).sort(), [root.id, globex.id].sort());
  t.ok(await sessions.isEnded(acmeSession.familyId));
  t.notOk(await sessions.isEnded(globexSession.familyId));
});
