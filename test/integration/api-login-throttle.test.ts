/**
 * The login throttle in the default layout (issue 14, items 3 and 9): the main API reached
 * through VeloFlux's own data plane on the same host (a route /api/ to the API, no
 * trustedProxies), clients told apart by their source address (127.0.0.2, 127.0.0.3, ...: Linux
 * routes all of 127.0.0.0/8 to loopback). One client's bad logins lock out that client, not every
 * user behind the proxy; bad passwords lock an address out of an account, not the account's
 * owner; and a direct client on a non-loopback address cannot choose its address by sending
 * X-Forwarded-For.
 */
import t from 'tap';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { startVeloflux, TEST_API_ADMIN } from '../helpers/veloflux.js';

/** This host's first non-loopback IPv4 address, for a direct client that is not on loopback. */
const external = Object.values(networkInterfaces())
  .flat()
  .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;

// The API listens on every interface only when the test can reach it from a non-loopback address.
const vf = await startVeloflux({ server: external === undefined ? {} : { api: { port: 0, host: '0.0.0.0' } }, pools: [], routes: [] }, { workers: 2 });
t.teardown(() => vf.stop());

// veloflux.yaml's layout, on the test's ports: /api/ through the data plane to the main API.
const current = await vf.admin('/admin/config');
const config = (await current.json()) as { pools: unknown[]; routes: unknown[] };
config.pools.push({ name: 'api', backends: [{ id: 'api-1', url: `http://127.0.0.1:${vf.apiPort}` }] });
config.routes.push({ host: '*', path: '/api/', pool: 'api' });
const applied = await vf.admin('/admin/config', { method: 'PUT', body: JSON.stringify(config), headers: { 'if-match': current.headers.get('etag')! } });
if (applied.status !== 200) throw new Error(`config not applied: ${applied.status} ${await applied.text()}`);

interface Answer {
  status: number;
  retryAfter: string | undefined;
  body: { error?: { code: string } };
}

/** POST /api/auth/login from `from` (a local source address) to host:port. */
function login(from: string, email: string, password: string, target: { host: string; port: number } = { host: '127.0.0.1', port: vf.port }, headers: Record<string, string> = {}): Promise<Answer> {
  const body = JSON.stringify({ email, password });
  return new Promise((resolve, reject) => {
    const req = request({ host: target.host, port: target.port, localAddress: from, method: 'POST', path: '/api/auth/login', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: JSON.parse(text) as Answer['body'] }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

t.test('one client guessing through the proxy locks out itself, not every user behind the proxy', async (t) => {
  const clientA = '127.0.0.2';
  const clientB = '127.0.0.3';
  const answers: number[] = [];
  for (let i = 1; i <= 21; i++) answers.push((await login(clientA, `guess${i}@test.local`, 'not-the-password-1')).status);
  t.same(answers.slice(0, 20), new Array(20).fill(401), 'client A: 20 bad logins answered 401');
  t.equal(answers[20], 429, 'the 21st from client A is refused: its own address is over the limit');
  const locked = await login(clientA, TEST_API_ADMIN.email, TEST_API_ADMIN.password);
  t.same([locked.status, locked.body.error?.code], [429, 'VF_ERR_TOO_MANY_ATTEMPTS'], 'client A stays refused, whatever it tries');
  t.ok(Number(locked.retryAfter) > 0, `with Retry-After: ${locked.retryAfter}`);

  const other = await login(clientB, TEST_API_ADMIN.email, TEST_API_ADMIN.password);
  t.equal(other.status, 200, 'client B, through the same proxy, logs in');
});

t.test('six bad passwords from one address do not lock the account owner out', async (t) => {
  const attacker = '127.0.0.4';
  const owner = '127.0.0.5';
  for (let i = 1; i <= 5; i++) t.equal((await login(attacker, TEST_API_ADMIN.email, `wrong-password-${i}-xx`)).status, 401, `bad password ${i}: 401`);
  const sixth = await login(attacker, TEST_API_ADMIN.email, TEST_API_ADMIN.password);
  t.same([sixth.status, sixth.body.error?.code], [429, 'VF_ERR_TOO_MANY_ATTEMPTS'], 'the 6th from that address is refused, even with the right password');
  t.equal((await login(owner, TEST_API_ADMIN.email, TEST_API_ADMIN.password)).status, 200, 'the owner, from another address, logs in with the right password');
});

t.test('a direct client on a non-loopback address cannot spoof X-Forwarded-For', { skip: external === undefined ? 'no non-loopback IPv4 address on this host' : false }, async (t) => {
  const direct = { host: external!, port: vf.apiPort };
  const email = 'spoofer-target@test.local';
  // Every attempt claims another address; if the API believed it, none would reach a limit.
  for (let i = 1; i <= 5; i++) t.equal((await login(external!, email, 'not-the-password-1', direct, { 'x-forwarded-for': `198.51.100.${i}` })).status, 401, `attempt ${i} claiming 198.51.100.${i}: 401`);
  const sixth = await login(external!, email, 'not-the-password-1', direct, { 'x-forwarded-for': '198.51.100.6' });
  t.equal(sixth.status, 429, 'the 6th is refused: all six were counted against the real address');
  t.equal((await login('127.0.0.6', email, 'not-the-password-1')).status, 401, 'the account is not locked for another client');
});
