// End-to-end smoke test run by .ci/run under Node 22 and 24 (the suite itself runs on Node 20):
// a real upstream, `veloflux` with two workers under the Node running this script, a GET and a
// POST through the proxy, then SIGTERM must exit 0. Plain JavaScript so it needs no loader.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const cli = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
const upstream = createServer((req, res) => {
  let bytes = 0;
  req.on('data', (c) => (bytes += c.length));
  req.on('end', () => res.end(JSON.stringify({ method: req.method, url: req.url, bytes })));
});
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
const dir = mkdtempSync(join(tmpdir(), 'veloflux-smoke-'));
const config = join(dir, 'veloflux.yaml');
writeFileSync(config, `server:
  workers: 2
  http: { port: 0, host: 127.0.0.1 }
  admin: { port: 0 }
  metrics: { port: 0, host: 127.0.0.1 }
  dataDir: ${join(dir, 'data')}
pools:
  - name: web
    backends: [{ id: u1, url: "http://127.0.0.1:${upstream.address().port}" }]
routes:
  - { path: /, pool: web }
`);
const child = spawn(process.execPath, [cli, '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
const exited = new Promise((r) => child.once('exit', (code) => r(code)));
const port = await new Promise((resolve, reject) => {
  let out = '';
  const timer = setTimeout(() => reject(new Error(`not ready:\n${out}`)), 15000);
  child.stdout.on('data', (d) => {
    out += d;
    const line = out.split('\n').find((l) => l.includes('"veloflux ready"'));
    if (line) {
      clearTimeout(timer);
      resolve(JSON.parse(line).http.port);
    }
  });
});
const get = await fetch(`http://127.0.0.1:${port}/smoke?x=1`);
assert.equal(get.status, 200);
assert.deepEqual(await get.json(), { method: 'GET', url: '/smoke?x=1', bytes: 0 });
const post = await fetch(`http://127.0.0.1:${port}/upload`, { method: 'POST', body: 'x'.repeat(100_000) });
assert.deepEqual(await post.json(), { method: 'POST', url: '/upload', bytes: 100_000 });
child.kill('SIGTERM');
assert.equal(await exited, 0);
upstream.close();
console.log(`smoke ok on node ${process.version}`);
