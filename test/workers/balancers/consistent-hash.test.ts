import t from 'tap';
import { ConsistentHashBalancer } from '../../../src/workers/balancers/consistent-hash.js';
import { IpHashBalancer } from '../../../src/workers/balancers/ip-hash.js';
import { clientAddresses, makePool, pickContext } from './fixtures/pool.js';

const ADDRESSES = clientAddresses(200);

/** Backend ids chosen for `key` from many different client addresses. */
function idsAcrossClients(
  balancer: ConsistentHashBalancer,
  headers: Record<string, string | string[] | undefined>,
  path = '/',
): Set<string | undefined> {
  return new Set(ADDRESSES.map((clientAddress) => balancer.pick(pickContext({ clientAddress, headers, path }))?.id));
}

t.test('by header: the header value decides, whoever the client is', async (t) => {
  const balancer = new ConsistentHashBalancer(makePool([1, 1, 1, 1, 1]), { hashKey: { kind: 'header', name: 'X-Tenant' } });
  t.equal(idsAcrossClients(balancer, { 'x-tenant': 'acme' }).size, 1);
  t.same(idsAcrossClients(balancer, { 'x-tenant': ['acme', 'other'] }), idsAcrossClients(balancer, { 'x-tenant': 'acme' }));
  const tenants = new Set<string | undefined>();
  for (let i = 0; i < 200; i++) tenants.add(balancer.pick(pickContext({ headers: { 'x-tenant': `tenant-${i}` } }))?.id);
  t.equal(tenants.size, 5, 'different values spread over the pool');
});

t.test('by cookie: parses the named cookie out of the Cookie header', async (t) => {
  const pool = makePool([1, 1, 1, 1, 1]);
  const byCookie = new ConsistentHashBalancer(pool, { hashKey: { kind: 'cookie', name: 'sid' } });
  const byHeader = new ConsistentHashBalancer(pool, { hashKey: { kind: 'header', name: 'x-sid' } });
  t.equal(idsAcrossClients(byCookie, { cookie: 'a=1; sid=xyz; b=2' }).size, 1);
  // Hashing the value "xyz" from a cookie or from a header lands on the same backend.
  const expected = byHeader.pick(pickContext({ headers: { 'x-sid': 'xyz' } }))!.id;
  for (const cookie of ['a=1; sid=xyz; b=2', 'sid=xyz', 'b=2;sid=xyz', 'sid="xyz"', 'xsid=1; sid=xyz', 'sid=xyz ; a=1', 'sid=xyz; sid=other']) {
    t.equal(byCookie.pick(pickContext({ headers: { cookie } }))!.id, expected, cookie);
  }
  t.equal(byCookie.pick(pickContext({ headers: { cookie: ['a=1', 'sid=xyz'] } }))!.id, expected, 'cookie header as array');
  const sessions = new Set<string | undefined>();
  for (let i = 0; i < 200; i++) sessions.add(byCookie.pick(pickContext({ headers: { cookie: `a=1; sid=s${i}` } }))?.id);
  t.equal(sessions.size, 5, 'different sessions spread over the pool');
});

t.test('by path', async (t) => {
  const balancer = new ConsistentHashBalancer(makePool([1, 1, 1, 1, 1]), { hashKey: { kind: 'path' } });
  t.equal(idsAcrossClients(balancer, {}, '/videos/42.mp4').size, 1);
  const paths = new Set<string | undefined>();
  for (let i = 0; i < 200; i++) paths.add(balancer.pick(pickContext({ path: `/videos/${i}.mp4` }))?.id);
  t.equal(paths.size, 5);
});

t.test('a missing or empty key falls back to the client address', async (t) => {
  const pool = makePool([1, 1, 1, 1, 1]);
  const byAddress = new IpHashBalancer(pool);
  const byHeader = new ConsistentHashBalancer(pool, { hashKey: { kind: 'header', name: 'x-tenant' } });
  const byCookie = new ConsistentHashBalancer(pool, { hashKey: { kind: 'cookie', name: 'sid' } });
  let mismatches = 0;
  for (const clientAddress of ADDRESSES) {
    const expected = byAddress.pick(pickContext({ clientAddress }));
    for (const headers of [{}, { 'x-tenant': '' }, { 'x-tenant': [] }]) {
      if (byHeader.pick(pickContext({ clientAddress, headers })) !== expected) mismatches++;
    }
    for (const cookie of [undefined, '', 'a=1; b=2', 'sid=', 'sid=""', 'xsid=1', 'sidx=1']) {
      if (byCookie.pick(pickContext({ clientAddress, headers: { cookie } })) !== expected) mismatches++;
    }
  }
  t.equal(mismatches, 0);
  t.ok(idsAcrossClients(byCookie, {}).size > 1, 'keyless clients still spread over the pool');
});

t.test('skips unhealthy and excluded backends; moves only their keys', async (t) => {
  const pool = makePool([1, 1, 1]);
  const balancer = new ConsistentHashBalancer(pool, { hashKey: { kind: 'path' } });
  const contexts = Array.from({ length: 1000 }, (_, i) => pickContext({ path: `/p/${i}` }));
  const before = contexts.map((context) => balancer.pick(context)!);
  balancer.setHealthy(pool[0]!, false);
  t.equal(pool[0]!.healthy, false);
  let wronglyMoved = 0;
  contexts.forEach((context, i) => {
    const now = balancer.pick(context)!;
    if (now === pool[0] || (before[i] !== pool[0] && now !== before[i])) wronglyMoved++;
  });
  t.equal(wronglyMoved, 0);
  t.equal(balancer.pick(contexts[0]!, [pool[1]!, pool[2]!]), undefined);
  balancer.setWeight(pool[1]!, 0);
  t.equal(pool[1]!.weight, 0);
  t.same(new Set(contexts.map((context) => balancer.pick(context)?.id)), new Set(['c']));
});

t.test('requires a hash key', async (t) => {
  t.throws(() => new ConsistentHashBalancer(makePool([1]), {}), TypeError);
  t.throws(() => new ConsistentHashBalancer(makePool([1]), { hashKey: { kind: 'cookie', name: '' } }), TypeError);
});
