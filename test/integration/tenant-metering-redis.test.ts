/**
 * Metering across instances (issue 16): two VeloFlux instances with two workers each share one
 * Redis; traffic through a tenant's route on both adds up exactly in GET /api/billing/usage, read
 * on either instance, and a suspension made on one is enforced by the other.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { startRedis } from '../helpers/redis.js';
import { startVeloflux, TEST_API_ADMIN, type RunningVeloflux } from '../helpers/veloflux.js';
import { startUpstream } from '../helpers/upstream.js';
import { apiCall } from '../helpers/api.js';

const redis = await startRedis();
const upstream = await startUpstream();
const config = {
  server: { redis: { url: redis.url, keyPrefix: `vf-${randomBytes(3).toString('hex')}:` } },
  pools: [{ name: 'web', backends: [{ id: 'web-1', url: upstream.url }] }],
  billing: { plans: [{ id: 'pro', name: 'Pro' }], defaultPlan: 'pro' },
  routes: [{ path: '/acme/', pool: 'web', tenant: 'acme' }],
};
const a = await startVeloflux(config, { workers: 2 });
const b = await startVeloflux(config, { workers: 2 });
t.teardown(async () => {
  await Promise.all([a.stop(), b.stop()]);
  await upstream.close();
  await redis.stop();
});

const token = async (vf: RunningVeloflux) => (await apiCall(vf.apiUrl, '/api/auth/login', { body: TEST_API_ADMIN })).body.accessToken as string;
const adminA = await token(a);
const created = await apiCall(a.apiUrl, '/api/tenants', { token: adminA, body: { id: 'acme', name: 'Acme' } });
if (created.status !== 201) throw new Error(`tenant: ${created.status} ${JSON.stringify(created.body)}`);

async function requests(vf: RunningVeloflux, token: string): Promise<number> {
  const res = await apiCall(vf.apiUrl, '/api/billing/usage?tenant=acme', { token });
  return res.status === 200 ? (res.body.usage.requests as number) : -1;
}

t.test('usage from both instances adds up exactly, whichever instance is asked', async (t) => {
  let served = 0;
  for (let i = 0; i < 60; i++) {
    const vf = i % 3 === 0 ? b : a;
    const res = await fetch(`${vf.url}/acme/${i}`, { headers: { connection: 'close' } });
    await res.arrayBuffer();
    if (res.status === 200) served++;
  }
  t.equal(served, 60);
  const adminB = await token(b);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && (await requests(a, adminA)) < 60) await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 2000));
  t.equal(await requests(a, adminA), 60, 'on instance A: 40 of its own + 20 of B');
  t.equal(await requests(b, adminB), 60, 'on instance B: the same');
});

t.test('a suspension made on one instance is enforced by the other', async (t) => {
  const changed = await apiCall(a.apiUrl, '/api/tenants/acme', { token: adminA, method: 'PUT', body: { status: 'suspended' } });
  t.equal(changed.status, 200);
  const at = Date.now();
  let status = 0;
  while (Date.now() - at < 5000 && status !== 403) {
    const res = await fetch(`${b.url}/acme/x`, { headers: { connection: 'close' } });
    await res.arrayBuffer();
    status = res.status;
  }
  t.equal(status, 403, `refused on B ${Date.now() - at} ms after the change on A`);
});
