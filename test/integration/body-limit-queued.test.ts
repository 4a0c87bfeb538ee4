/**
 * Regression: a chunked body that crosses server.limits.maxBodySize while its request still waits
 * for a free upstream connection got no 413: nothing read the limit's error until a connection
 * came, and the client waited for a 504 after timeouts.response. It gets its 413 at once now, and
 * the backend never sees the request.
 */
import t from 'tap';
import type { ServerResponse } from 'node:http';
import { rawRequest } from '../helpers/raw-http.js';
import { echo, startUpstream } from '../helpers/upstream.js';
import { startVeloflux } from '../helpers/veloflux.js';

const MAX_BODY_SIZE = 1024;
/** Requests to /hold are answered only when the test lets them go. */
const held: ServerResponse[] = [];
const upstream = await startUpstream((req, res, seen) => {
  if (req.url === '/hold') return void held.push(res);
  echo(req, res, seen);
});
const vf = await startVeloflux({
  server: { limits: { maxBodySize: MAX_BODY_SIZE }, timeouts: { response: '20s' } },
  pools: [{ name: 'web', maxConnectionsPerBackend: 1, backends: [{ id: 'only', url: upstream.url }] }],
  routes: [{ path: '/', pool: 'web' }],
});
t.teardown(async () => {
  for (const res of held) res.end();
  await vf.stop();
  await upstream.close();
});

t.test('an over-limit chunked body waiting for a connection gets 413 at once', async (t) => {
  // The only upstream connection is busy with a request the backend holds.
  const holding = fetch(`http://127.0.0.1:${vf.port}/hold`);
  const deadline = Date.now() + 5000;
  while (held.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(held.length, 1, 'the connection is busy');
  const seenBefore = upstream.requests.length;

  const chunk = `800\r\n${'a'.repeat(0x800)}\r\n`;
  const started = Date.now();
  const result = await rawRequest(vf.port, `POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}0\r\n\r\n`, 5000);
  t.equal(result.status, 413);
  t.match(result.text, /"code":"VF_ERR_BODY_TOO_LARGE"/);
  t.ok(Date.now() - started < 3000, `answered in ${Date.now() - started} ms, not after the response timeout`);

  held.shift()!.end('done');
  t.equal((await holding).status, 200);
  t.equal(upstream.requests.length, seenBefore, 'the over-limit request never reached the backend');
});
