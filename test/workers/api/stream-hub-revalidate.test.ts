/**
 * The stream hub's hook for ended sessions (issue 14, item 4): `verifyToken` may answer
 * asynchronously (the API's authenticator reads the replica), and `revalidate` closes, with 4401,
 * exactly the authenticated clients whose identity is no longer live; others keep streaming.
 */
import t from 'tap';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { API_STREAMS } from '../../../src/shared/api-feed.js';
import { StreamHub, type StreamIdentity } from '../../../src/workers/api/streams/stream-hub.js';

const IDENTITIES: Record<string, StreamIdentity> = {
  'token-a': { tenant: 'a', subject: 'alice', session: 's-alice' },
  'token-b': { tenant: 'b', subject: 'bob', session: 's-bob' },
};
const ended = new Set<string>();

const hub = new StreamHub({
  streams: API_STREAMS.map((s) => ({ name: s.name, private: true })),
  allowedOrigins: [],
  // Asynchronous like the API's: the answer comes on a later tick.
  verifyToken: async (token) => {
    await new Promise((resolve) => setImmediate(resolve));
    const identity = IDENTITIES[token];
    return identity !== undefined && !ended.has(identity.session!) ? identity : undefined;
  },
  log: pino({ level: 'silent' }),
});
const server = createServer((_req, res) => res.writeHead(404).end());
server.on('upgrade', (req, socket, head) => hub.handleUpgrade(req, socket, head));
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const { port } = server.address() as AddressInfo;
t.teardown(() => {
  hub.close();
  server.close();
});

/** A client on the ai stream that sent `token`; resolves once the hub answered the auth. */
async function authenticated(token: string): Promise<{ ws: WebSocket; answer: string; closed: Promise<number>; messages: string[] }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/ws/ai`);
  const messages: string[] = [];
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  let answered: (text: string) => void = () => {};
  const answer = new Promise<string>((resolve) => (answered = resolve));
  ws.on('message', (data) => {
    const text = String(data);
    messages.push(text);
    if (text.includes('auth_required')) ws.send(JSON.stringify({ type: 'auth', token }));
    else answered(text);
  });
  void closed.then(() => answered('closed'));
  return { ws, answer: await answer, closed, messages };
}

t.test('an asynchronous verifyToken admits and refuses', async (t) => {
  const good = await authenticated('token-a');
  t.equal(good.answer, '{"type":"auth_ok"}');
  const bad = await authenticated('token-nobody');
  t.equal(bad.answer, 'closed');
  t.equal(await bad.closed, 4401);
  good.ws.close();
});

t.test('revalidate closes the clients whose session ended, and only those', async (t) => {
  const alice = await authenticated('token-a');
  const bob = await authenticated('token-b');
  t.equal(await hub.revalidate(() => true), 0, 'nothing ended: nothing closed');
  ended.add('s-alice');
  const seen: StreamIdentity[] = [];
  const closed = await hub.revalidate((identity) => {
    seen.push(identity);
    return Promise.resolve(!ended.has(identity.session!));
  });
  t.equal(closed, 1);
  t.equal(await alice.closed, 4401, "alice's stream closed with 4401");
  t.same(seen.map((i) => i.subject).sort(), ['alice', 'bob'], 'every authenticated client was checked');
  hub.publish('ai', (audience) => (audience === 'b' ? { n: 1 } : undefined));
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.ok(bob.messages.some((m) => m.includes('"n":1')), 'bob keeps streaming');
  t.equal(bob.ws.readyState, WebSocket.OPEN);
  t.equal((await authenticated('token-a')).answer, 'closed', 'and alice cannot come back with the same token');
  bob.ws.close();
});
