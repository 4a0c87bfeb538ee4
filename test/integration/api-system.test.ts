/**
 * The main API on its own port, served by every worker: version, system facts (for users with a
 * token only), the OpenAPI document, and errors in the VeloFlux shape.
 */
import t from 'tap';
import { startVeloflux, TEST_API_ADMIN } from '../helpers/veloflux.js';

const vf = await startVeloflux({ pools: [], routes: [] }, { workers: 2 });
t.teardown(() => vf.stop());

t.test('GET /api/version and /health are public; /api/system/info needs a token (issue 14, 11c)', async (t) => {
  const version = (await (await fetch(`${vf.apiUrl}/api/version`)).json()) as { version: string; node: string };
  t.match(version, { version: /^\d+\.\d+\.\d+/, node: process.version });
  t.equal((await fetch(`${vf.apiUrl}/health`)).status, 200, '/health: no token needed');

  const anonymous = await fetch(`${vf.apiUrl}/api/system/info`);
  t.equal(anonymous.status, 401, 'system info without a token: 401');
  const refusal = (await anonymous.json()) as { error: { code: string } } & Record<string, unknown>;
  t.equal(refusal.error.code, 'VF_ERR_AUTH_REQUIRED');
  t.same(Object.keys(refusal), ['error'], 'and no hostname, kernel or pid in the answer');

  const login = await fetch(`${vf.apiUrl}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(TEST_API_ADMIN) });
  const { accessToken } = (await login.json()) as { accessToken: string };
  const pids = new Set<number>();
  for (let i = 0; i < 12; i++) {
    const res = await fetch(`${vf.apiUrl}/api/system/info`, { headers: { connection: 'close', authorization: `Bearer ${accessToken}` } });
    t.equal(res.status, 200);
    const info = (await res.json()) as { workers: number; process: { pid: number }; cpus: { count: number }; memory: { totalBytes: number } };
    t.equal(info.workers, 2);
    t.ok(info.cpus.count >= 1 && info.memory.totalBytes > 0);
    pids.add(info.process.pid);
  }
  t.equal(pids.size, 2, 'both workers answer on the shared API port');
});

t.test('unknown routes and bad methods answer in the VeloFlux error shape', async (t) => {
  const res = await fetch(`${vf.apiUrl}/api/nope`);
  t.equal(res.status, 404);
  t.match(await res.json(), { error: { code: 'VF_ERR_NOT_FOUND', message: /no API route GET \/api\/nope/ } });
});

t.test('GET /api/openapi.json documents the routes', async (t) => {
  const doc = (await (await fetch(`${vf.apiUrl}/api/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
  t.equal(doc.openapi, '3.0.3');
  t.ok(doc.paths['/api/version'] && doc.paths['/api/system/info'], 'system routes listed');
  t.notOk(doc.paths['/api/openapi.json'], 'the document itself is not listed');
});
