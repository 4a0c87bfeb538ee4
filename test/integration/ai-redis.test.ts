/**
 * Two VeloFlux instances sharing Redis (issue 18): only the leader trains (the other answers
 * 503 VF_ERR_AI_NOT_LEADER), and the models it stores are versioned records in Redis that the
 * other instance serves as they are.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { startVeloflux, TEST_API_ADMIN, type RunningVeloflux } from '../helpers/veloflux.js';
import { startRedis } from '../helpers/redis.js';
import { startUpstream } from '../helpers/upstream.js';
import { apiCall } from '../helpers/api.js';

t.setTimeout(180_000);

t.test('the leader trains, the other instance serves the same model records', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const upstream = await startUpstream();
  t.teardown(() => upstream.close());
  const config = {
    server: { redis: { url: redis.url, keyPrefix: `vf-${randomBytes(3).toString('hex')}:` } },
    pools: [{ name: 'web', backends: [{ id: 'w1', url: upstream.url }] }],
    routes: [{ path: '/', pool: 'web' }],
  };
  const a = await startVeloflux(config, { workers: 1 });
  t.teardown(() => a.stop());
  const b = await startVeloflux(config, { workers: 1 });
  t.teardown(() => b.stop());
  const token = async (vf: RunningVeloflux) => (await apiCall(vf.apiUrl, '/api/auth/login', { body: TEST_API_ADMIN })).body.accessToken as string;
  const tokens = new Map([[a, await token(a)], [b, await token(b)]]);

  // Which one leads, as each sees it (the feed's node list is refreshed every few seconds).
  let leader: RunningVeloflux | undefined;
  for (const deadline = Date.now() + 30_000; leader === undefined && Date.now() < deadline; await new Promise((r) => setTimeout(r, 300))) {
    const [sa, sb] = await Promise.all([a, b].map(async (vf) => (await apiCall(vf.apiUrl, '/api/status', { token: tokens.get(vf)! })).body));
    if (sa.leader !== null && sa.leader === sb.leader) leader = sa.leader === sa.nodeId ? a : sb.leader === sb.nodeId ? b : undefined;
  }
  if (leader === undefined) throw new Error('no leader agreed on in 30 s');
  const follower = leader === a ? b : a;

  const refused = await apiCall(follower.apiUrl, '/api/ai/train', { method: 'POST', token: tokens.get(follower)! });
  t.same([refused.status, refused.body.error.code], [503, 'VF_ERR_AI_NOT_LEADER'], 'the follower does not train');
  const started = await apiCall(leader.apiUrl, '/api/ai/train', { method: 'POST', token: tokens.get(leader)! });
  t.equal(started.status, 202, 'the leader does');
  let job: any;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    job = (await apiCall(leader.apiUrl, `/api/ai/jobs/${started.body.id}`, { token: tokens.get(leader)! })).body;
    if (job.state !== 'running') break;
  }
  t.equal(job.state, 'done', JSON.stringify(job));
  const fromLeader = (await apiCall(leader.apiUrl, '/api/ai/models', { token: tokens.get(leader)! })).body.models;
  const fromFollower = (await apiCall(follower.apiUrl, '/api/ai/models', { token: tokens.get(follower)! })).body.models;
  t.ok(fromLeader.length >= 2, `models for the pool and the route: ${fromLeader.map((m: any) => m.key).join(', ')}`);
  t.same(fromFollower, fromLeader, 'the follower serves the very records the leader stored');
  t.ok(fromFollower.every((m: any) => m.job === started.body.id && m.version === 1));
});
