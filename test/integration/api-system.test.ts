/**
 * The main API on its own port, served by every worker: version, system facts, the OpenAPI
 * document, and errors in the VeloFlux shape.
 */
import t from 'tap';
import { startVeloflux } from '../helpers/veloflux.js';

const vf = await startVeloflux({ pools: [], routes: [] }, { workers: 2 });
t.teardown(() => vf.stop());

t.test('GET /api/version and /api/system/info', async (t) => {
  const version = (await (await fetch(`${vf.apiUrl}/api/version`)).json()) as { version: string; node: string };
  t.match(version, { version: /^\d+\.\d+\.\d+/, node: process.version });
  const pids = new Set<number>();
  for (let i = 0; i < 12; i++) {
    const res = await fetch(`${vf.apiUrl}/api/system/info`, { headers: { connection: 'close' } });
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
