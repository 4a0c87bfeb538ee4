/**
 * Backend ids per tenant (issue 14, item 8): a tenant user's ids are "<tenant>.<name>", so tenant
 * "acme" can never name, take or probe an id of tenant "acme-corp" (the old "<tenant>-" prefix
 * rule let it), and what is refused depends only on the request, never on what exists.
 */
import t from 'tap';
import { backendIdToCreate, ownerOfBackendId } from '../../../src/workers/api/backend-ids.js';

t.test('a tenant user: the short name or the whole id, always in its own name space', async (t) => {
  t.equal(backendIdToCreate('web-1', 'acme', 'acme'), 'acme.web-1');
  t.equal(backendIdToCreate('acme.web-1', 'acme', 'acme'), 'acme.web-1', 'the whole id is the same backend');
  t.equal(backendIdToCreate('acme-corp-1', 'acme', 'acme'), 'acme.acme-corp-1', "what used to be acme-corp's id lands in acme's own space");
  for (const id of ['acme-corp.1', 'globex.web-1', 'acme.a.b', 'acme.']) {
    t.throws(() => backendIdToCreate(id, 'acme', 'acme'), { code: 'VF_ERR_VALIDATION', message: /backend ids of tenant "acme" are "acme\.<name>"/ }, `${id}: refused for its shape`);
  }
});

t.test('the owner of an id is what precedes its last "."; names have none, so spaces never overlap', async (t) => {
  t.equal(ownerOfBackendId('web-1'), null);
  t.equal(ownerOfBackendId('acme.web-1'), 'acme');
  t.equal(ownerOfBackendId('acme-corp.web-1'), 'acme-corp');
  t.equal(ownerOfBackendId('a.b.x'), 'a.b', 'a tenant id with a "." still owns its own ids');
  t.throws(() => backendIdToCreate('b.x', 'a', 'a'), { code: 'VF_ERR_VALIDATION' }, 'tenant "a" cannot reach "a.b.x" of tenant "a.b"');
  t.equal(backendIdToCreate('x', 'a.b', 'a.b'), 'a.b.x');
});

t.test('a platform user: any id without "."; an id in a tenant space only in that tenant\'s pools', async (t) => {
  t.equal(backendIdToCreate('web-1', null, null), 'web-1');
  t.equal(backendIdToCreate('web-1', null, 'acme'), 'web-1');
  t.equal(backendIdToCreate('acme.web-9', null, 'acme'), 'acme.web-9');
  t.throws(() => backendIdToCreate('acme.web-9', null, 'globex'), { code: 'VF_ERR_VALIDATION', message: /belongs to tenant "acme"/ });
  t.throws(() => backendIdToCreate('acme.web-9', null, null), { code: 'VF_ERR_VALIDATION' }, 'nor in a shared pool');
});
