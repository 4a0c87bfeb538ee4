// The @fastify/http-proxy target: a fastify server with the plugin in front of the origin, as a
// user would write it (defaults, logging off). Run as its own process so it can be pinned:
// `node dist/bench/fastify-proxy.js --upstream http://127.0.0.1:N`; prints {"port": N}.
import { parseArgs } from 'node:util';
import fastifyHttpProxy from '@fastify/http-proxy';
import Fastify from 'fastify';

const { values } = parseArgs({
  options: {
    upstream: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
  },
});
if (values.upstream === undefined) throw new Error('fastify-proxy: --upstream is required');

const app = Fastify({ logger: false });
await app.register(fastifyHttpProxy, { upstream: values.upstream });
await app.listen({ host: values.host, port: Number(values.port) });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('fastify-proxy: no TCP address');
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);

process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
