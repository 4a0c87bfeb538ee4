/**
 * The authenticator refuses a genuine, unexpired access token once its session ended, its user
 * was disabled or deleted, or its user's tenant was deleted (issue 14, items 4 and 7), and marks
 * the users of a suspended tenant read-only. The directory is a plain map here: in a worker it is
 * the state replica, read without I/O.
 */
import t from 'tap';
import { AccessTokens } from '../../../src/shared/auth/jwt.js';
import { Authenticator, type KnownUser } from '../../../src/workers/api/authenticate.js';

const tokens = new AccessTokens({ secret: 's'.repeat(32), issuer: 'veloflux', audience: 'veloflux-api', ttlSeconds: 900 });
const users = new Map<string, KnownUser>([
  ['u-root', { id: 'u-root', email: 'root@x', role: 'admin', tenant: null }],
  ['u-acme', { id: 'u-acme', email: 'op@acme', role: 'operator', tenant: 'acme' }],
]);
const tenants = new Map<string, { status: 'active' | 'suspended' }>([['acme', { status: 'active' }]]);
const ended = new Set<string>();
const auth = new Authenticator(tokens, { user: async (id) => users.get(id), tenant: async (id) => tenants.get(id), sessionEnded: async (sid) => ended.has(sid) });
const tokenOf = (sub: string, sid?: string) => tokens.sign({ sub, role: 'viewer', ...(sid !== undefined ? { sid } : {}) }).token;
const refusal = (token: string) => auth.principalOf(token).then(() => 'accepted', (err: { code: string; message: string }) => `${err.code}: ${err.message}`);

t.test('a live session of an active user: role and tenant from the user record', async (t) => {
  t.match(await auth.principalOf(tokenOf('u-acme', 's1')), { userId: 'u-acme', role: 'operator', tenant: 'acme', sessionId: 's1', readOnly: false });
  t.ok(await auth.isLive({ userId: 'u-acme', sessionId: 's1' }));
});

t.test('ended session, no session, disabled or deleted user, deleted tenant: 401', async (t) => {
  ended.add('s-ended');
  t.equal(await refusal(tokenOf('u-root', 's-ended')), 'VF_ERR_AUTH_INVALID: The token is not valid: its session has ended');
  t.notOk(await auth.isLive({ userId: 'u-root', sessionId: 's-ended' }));
  t.equal(await refusal(tokenOf('u-root')), 'VF_ERR_AUTH_INVALID: The token is not valid: it names no session');
  users.set('u-off', { id: 'u-off', email: 'off@x', role: 'admin', tenant: null, disabled: true });
  t.match(await refusal(tokenOf('u-off', 's2')), /^VF_ERR_AUTH_INVALID/);
  t.match(await refusal(tokenOf('u-gone', 's3')), /^VF_ERR_AUTH_INVALID/);
  tenants.delete('acme');
  t.match(await refusal(tokenOf('u-acme', 's4')), /^VF_ERR_AUTH_INVALID/, 'a user of a deleted tenant');
  t.notOk(await auth.isLive({ userId: 'u-acme', sessionId: 's4' }));
  t.equal(await auth.standingOf(users.get('u-acme')!), undefined, 'nor may they log in');
  tenants.set('acme', { status: 'active' });
});

t.test('a suspended tenant: its users read only', async (t) => {
  tenants.set('acme', { status: 'suspended' });
  t.match(await auth.principalOf(tokenOf('u-acme', 's5')), { readOnly: true });
  t.equal(await auth.standingOf(users.get('u-acme')!), 'read-only');
  t.ok(await auth.isLive({ userId: 'u-acme', sessionId: 's5' }), 'streams stay open: they only read');
  t.equal(await auth.standingOf(users.get('u-root')!), 'active');
  tenants.set('acme', { status: 'active' });
});
