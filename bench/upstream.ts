// The origin every target forwards to: node:http with keep-alive, `GET /<bytes>` answers a
// fixed body of that many bytes, prepared once at start. Run as its own process (so it can be
// pinned): `node dist/bench/upstream.js --sizes 100,10240`; prints {"port": N} when listening.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
  },
});

// Flat [name, value, ...] header arrays and bodies built once per size: the origin should cost as
// little per request as possible, since its CPU is shared with the load generator.
const routes = new Map<string, { headers: string[]; body: Buffer }>();
for (const size of values.sizes.split(',').map(Number)) {
  routes.set(`/${size}`, {
    headers: ['content-type', 'application/octet-stream', 'content-length', String(size)],
    body: Buffer.alloc(size, 'x'),
  });
}
const notFound = Buffer.from('not found\n');

const server = createServer((req, res) => {
  const route = routes.get(req.url ?? '');
  if (route === undefined) {
    res.writeHead(404, ['content-type', 'text/plain', 'content-length', String(notFound.length)]);
    res.end(notFound);
    return;
  }
  res.writeHead(200, route.headers);
  res.end(route.body);
});
// Idle keep-alive longer than any proxy's upstream idle timeout, so the proxy always closes
// first and never reuses a socket the origin is closing (the stale keep-alive race).
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.requestTimeout = 0;

server.listen(Number(values.port), values.host, () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('origin: no TCP address');
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
});

process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
