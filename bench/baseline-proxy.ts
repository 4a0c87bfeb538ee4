// The `baseline` target: the smallest honest Node proxy (node:http in front, an undici keep-alive
// Pool behind, body streamed, hop-by-hop headers dropped both ways), so every run shows what
// VeloFlux costs over a featureless Node proxy. `--port` fixed lets cluster workers share it.
// `node dist/bench/baseline-proxy.js --upstream http://127.0.0.1:N [--port P]`; prints {"port": N}.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values } = parseArgs({ options: { upstream: { type: 'string' }, port: { type: 'string', default: '0' } } });
if (values.upstream === undefined) throw new Error('baseline-proxy: --upstream is required');

// RFC 9110 §7.6.1: connection-specific fields never cross a proxy (undici also refuses them).
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
function endToEnd(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

const pool = new Pool(values.upstream, { connections: 128, pipelining: 1 });
const server = createServer((req, res) => {
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  pool
    .stream({ path: req.url ?? '/', method: req.method as 'GET', headers: endToEnd(req.headers), body: hasBody ? req : null }, ({ statusCode, headers }) => {
      res.writeHead(statusCode, endToEnd(headers as IncomingHttpHeaders));
      return res;
    })
    .catch(() => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(values.port), '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('baseline-proxy: no TCP address');
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
});
process.once('SIGTERM', () => server.close(() => void pool.close().then(() => process.exit(0))));
