/**
 * The backend address policy at connect time (issue 14), on real connections: a tenant's backend
 * whose name resolves to a refused address is never connected to (the backend sees no connection
 * and the call fails as a connect error), whatever the name resolved to when it was added; one
 * the policy allows connects as any backend does.
 */
import t, { type Test } from 'tap';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { BackendAddressPolicy } from '../../../src/shared/backend-address-policy.js';
import { validateConfig } from '../../../src/shared/config/load.js';
import type { BackendPolicyConfig } from '../../../src/shared/config/schema.js';
import { UpstreamPool } from '../../../src/workers/upstream/upstream-pool.js';
import type { UpstreamController, UpstreamHandler } from '../../../src/workers/upstream/upstream-call.js';
import { classifyUpstreamError } from '../../../src/workers/proxy/upstream-errors.js';
import { DeadlineWheel } from '../../../src/workers/deadline-wheel.js';

const wheel = new DeadlineWheel(100);

/** A backend on 127.0.0.1 that counts connections and answers every request with 200 "ok". */
async function backend(t: Test): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.on('error', () => {});
    socket.on('data', () => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as { port: number }).port, connections: () => connections };
}

const policyConfig = (backendPolicy: unknown): BackendPolicyConfig => validateConfig({ backendPolicy }, 'test', {}).backendPolicy;

/** One GET through a pool for `origin` held to `policy`: the status, or the error's code and message. */
async function get(t: Test, origin: string, policy: BackendAddressPolicy): Promise<{ status?: number; code?: string; message?: string }> {
  const pool = new UpstreamPool(origin, { connectTimeoutMs: 1000, responseTimeoutMs: 1000, keepAliveMs: 1000, maxConnections: 2, tls: { ca: undefined, servername: undefined, rejectUnauthorized: true }, addressPolicy: policy }, wheel);
  t.teardown(() => pool.destroy());
  return new Promise((resolve) => {
    const handler: UpstreamHandler = {
      onConnect: (_upstream: UpstreamController) => {},
      onHeaders: (status) => (resolve({ status }), true),
      onData: () => true,
      onComplete: () => {},
      onError: (err: Error & { code?: string }) => resolve({ code: err.code, message: err.message }),
      onBodySent: () => {},
      onUpgrade: () => {},
    };
    pool.dispatch({ method: 'GET', path: '/', headers: [], body: null, contentLength: 0 }, handler);
  });
}

t.test('a name that resolves to a loopback address is not connected to', async (t) => {
  const b = await backend(t);
  const answer = await get(t, `http://localhost:${b.port}`, new BackendAddressPolicy(policyConfig({}), 'acme', new Set()));
  t.equal(answer.code, 'UPSTREAM_ADDRESS_DENIED', 'the call fails with the policy code');
  t.match(answer.message, /rule "loopback"/, 'naming the rule');
  t.equal(classifyUpstreamError(answer as Error & { code: string }).code, 'VF_ERR_UPSTREAM_CONNECT', 'the client sees 502 VF_ERR_UPSTREAM_CONNECT, and another backend may be tried');
  t.equal(b.connections(), 0, 'the backend saw no connection');
});

t.test('a name the deny list names is refused before it is resolved', async (t) => {
  const b = await backend(t);
  const answer = await get(t, `http://localhost:${b.port}`, new BackendAddressPolicy(policyConfig({ allow: ['127.0.0.1/32'], deny: ['localhost'] }), 'acme', new Set()));
  t.match(answer, { code: 'UPSTREAM_ADDRESS_DENIED', message: /rule "backendPolicy.deny"/ });
  t.equal(b.connections(), 0);
});

t.test('an address URL the policy refuses (it may have changed since the add) is not connected to', async (t) => {
  const b = await backend(t);
  const answer = await get(t, `http://127.0.0.1:${b.port}`, new BackendAddressPolicy(policyConfig({ tenants: { acme: { deny: ['127.0.0.0/8'] } } }), 'acme', new Set()));
  t.match(answer, { code: 'UPSTREAM_ADDRESS_DENIED', message: /rule "backendPolicy.tenants.acme.deny"/ });
  t.equal(b.connections(), 0);
});

t.test("this instance's own listener port is refused even where the policy allows the address", async (t) => {
  const b = await backend(t);
  const answer = await get(t, `http://localhost:${b.port}`, new BackendAddressPolicy(policyConfig({ allow: ['127.0.0.1/32'] }), 'acme', new Set([b.port])));
  t.match(answer, { code: 'UPSTREAM_ADDRESS_DENIED', message: /rule "own-listener"/ });
  t.equal(b.connections(), 0);
});

t.test('a name that resolves to an allowed address connects and answers', async (t) => {
  const b = await backend(t);
  const answer = await get(t, `http://localhost:${b.port}`, new BackendAddressPolicy(policyConfig({ allow: ['127.0.0.1/32'] }), 'acme', new Set()));
  t.same(answer, { status: 200 });
  t.equal(b.connections(), 1);
});
