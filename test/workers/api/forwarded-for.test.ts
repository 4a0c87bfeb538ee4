/**
 * Whose X-Forwarded-For the main API believes (issue 14, item 3): by default a loopback peer's
 * (VeloFlux's own data plane on this host), so the login throttle sees each client; never a
 * direct client's on another address unless it is in server.trustedProxies; and, as proxy-addr,
 * only the rightmost untrusted hop, so a client cannot spoof through the proxy either.
 */
import t from 'tap';
import { pino } from 'pino';
import { createJsonApi } from '../../../src/shared/http/json-api.js';
import { apiTrustProxy } from '../../../src/workers/api/forwarded-for.js';

async function clientAddress(trust: ReturnType<typeof apiTrustProxy>, remoteAddress: string, forwardedFor?: string): Promise<string> {
  const app = createJsonApi({ name: 'test', bodyLimit: 1024, log: pino({ level: 'silent' }), trustProxy: trust });
  app.get('/ip', async (request) => ({ ip: request.ip }));
  try {
    const res = await app.inject({ method: 'GET', url: '/ip', remoteAddress, headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor } });
    return (res.json() as { ip: string }).ip;
  } finally {
    await app.close();
  }
}

const byDefault = apiTrustProxy({ trustedProxies: [], api: { trustLoopback: true } });

t.test('by default a loopback peer (the data plane on this host) is believed', async (t) => {
  t.equal(await clientAddress(byDefault, '127.0.0.1', '198.51.100.7'), '198.51.100.7');
  t.equal(await clientAddress(byDefault, '::1', '198.51.100.7'), '198.51.100.7', 'IPv6 loopback');
  t.equal(await clientAddress(byDefault, '::ffff:127.0.0.1', '198.51.100.7'), '198.51.100.7', 'IPv4-mapped loopback');
  t.equal(await clientAddress(byDefault, '127.0.0.1'), '127.0.0.1', 'without the header: the peer');
  t.equal(await clientAddress(byDefault, '127.0.0.1', '203.0.113.66, 198.51.100.7'), '198.51.100.7', 'the rightmost untrusted hop, not what a client put on the left');
});

t.test('a direct client on another address cannot spoof X-Forwarded-For', async (t) => {
  t.equal(await clientAddress(byDefault, '192.0.2.10', '127.0.0.1'), '192.0.2.10');
  t.equal(await clientAddress(byDefault, '192.0.2.10', '198.51.100.7'), '192.0.2.10');
  t.equal(await clientAddress(byDefault, '2001:db8::10', '198.51.100.7'), '2001:db8::10');
});

t.test('server.trustedProxies add to loopback; trustLoopback: false leaves only them', async (t) => {
  const withProxies = apiTrustProxy({ trustedProxies: ['10.0.0.0/8'], api: { trustLoopback: true } });
  t.equal(await clientAddress(withProxies, '10.1.2.3', '198.51.100.7'), '198.51.100.7');
  t.equal(await clientAddress(withProxies, '127.0.0.1', '198.51.100.7, 10.1.2.3'), '198.51.100.7', 'an outer proxy, then the data plane');
  const noLoopback = apiTrustProxy({ trustedProxies: [], api: { trustLoopback: false } });
  t.equal(noLoopback, false);
  t.equal(await clientAddress(noLoopback, '127.0.0.1', '198.51.100.7'), '127.0.0.1');
});
