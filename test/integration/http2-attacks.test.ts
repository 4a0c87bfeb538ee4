/**
 * The known HTTP/2 attacks against VeloFlux's HTTPS listener (issue 20), each from a raw h2
 * client (hand-built frames over TLS, test/helpers/h2-frames.ts): the abusive connection is
 * closed, the worker is not restarted, and a well-behaved client is served right after.
 * - rapid reset (CVE-2023-44487): streams opened and cancelled at once, past the reset budget;
 * - CONTINUATION flood (CVE-2024-27316 and kin): a header block that never ends;
 * - HPACK bomb: a small block that decodes to a header list far over maxHeaderListSize;
 * - PING and SETTINGS floods (CVE-2019-9512, -9515), and SETTINGS frames with too many entries;
 * - streams over maxConcurrentStreams, past maxSessionRejectedStreams;
 * - connection-specific headers (RFC 9113 §8.2.2): only that stream is refused.
 */
import t from 'tap';
import { startUpstream } from '../helpers/upstream.js';
import { startVeloflux } from '../helpers/veloflux.js';
import { makeTestCertificates } from '../helpers/tls-certs.js';
import { h2Connect, h2Request } from '../helpers/h2-client.js';
import { closesWithin, ERROR_CODE, FLAG, frame, FRAME, indexed, literal, literalIndexed, rawH2, requestBlock } from '../helpers/h2-frames.js';
import { scrape } from '../helpers/metrics.js';

const certs = makeTestCertificates();
t.teardown(() => certs.remove());
const served = certs.issue('localhost', 'DNS:localhost,IP:127.0.0.1');

const upstream = await startUpstream((req, res) => {
  req.resume();
  // Held long enough that a cancelled stream is still in flight at the proxy.
  const delay = req.url === '/slow' ? 2000 : 0;
  setTimeout(() => res.end(JSON.stringify({ url: req.url })), delay);
});
t.teardown(() => upstream.close());

const RESET_BURST = 20;
const vf = await startVeloflux({
  server: {
    // An idle connection is kept a minute: every close below is the defence's, not the idle timeout's.
    timeouts: { clientHeader: '2s', clientKeepAlive: '60s' },
    https: {
      port: 0,
      host: '127.0.0.1',
      certificates: [served],
      http2: { maxConcurrentStreams: 50, maxHeaderListSize: '16kb', resetBurst: RESET_BURST, resetsPerSecond: 5, maxSessionRejectedStreams: 10, maxSettings: 32, maxOutstandingPings: 10 },
    },
  },
  pools: [{ name: 'web', backends: [{ id: 'web-1', url: upstream.url }] }],
  routes: [{ path: '/', pool: 'web' }],
});
t.teardown(() => vf.stop());
const port = vf.httpsPort!;

/** A well-behaved client on a new connection is served: the worker took the abuse in its stride. */
async function servedAfter(t: Tap.Test, what: string): Promise<void> {
  const session = await h2Connect(port, certs.ca);
  try {
    const answer = await h2Request(session, { ':path': `/after-${what.replaceAll(' ', '-')}` });
    t.equal(answer.status, 200, `a new client is served after the ${what}`);
  } finally {
    session.close();
  }
  t.notOk(vf.logs().some((l) => typeof l.msg === 'string' && l.msg.startsWith('worker died')), 'no worker died');
}

t.test('rapid reset: streams cancelled as soon as opened, past the budget, get GOAWAY ENHANCE_YOUR_CALM', async (t) => {
  const before = upstream.requests.length;
  const raw = await rawH2(port, certs.ca);
  const frames: Buffer[] = [];
  for (let i = 0; i < 500; i++) {
    const id = 1 + 2 * i;
    frames.push(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, requestBlock('/slow')), frame(FRAME.RST_STREAM, 0, id, Buffer.from([0, 0, 0, ERROR_CODE.CANCEL])));
  }
  raw.send(...frames);
  t.ok(await closesWithin(raw, 10_000), 'the connection is closed');
  t.ok(raw.goaways.includes(ERROR_CODE.ENHANCE_YOUR_CALM), `GOAWAY ENHANCE_YOUR_CALM (got ${raw.goaways.join(', ') || 'none'})`);
  // Each cancelled stream may have reached the backend before its reset was read; the budget
  // bounds how many (nghttp2's own limit would have let 1000 through).
  await new Promise((resolve) => setTimeout(resolve, 300));
  const reached = upstream.requests.length - before;
  t.ok(reached < 200, `${reached} of 500 cancelled requests reached the backend`);
  await servedAfter(t, 'rapid reset');
});

t.test('CONTINUATION flood: a header block that never ends closes the connection', async (t) => {
  const raw = await rawH2(port, certs.ca);
  raw.send(frame(FRAME.HEADERS, 0, 1, requestBlock('/flood')));
  const crumb = literal('x-filler', 'y'.repeat(1000));
  for (let i = 0; i < 200 && !raw.socket.destroyed; i++) {
    raw.send(frame(FRAME.CONTINUATION, 0, 1, crumb));
    if (i % 20 === 19) await new Promise((resolve) => setImmediate(resolve));
  }
  t.ok(await closesWithin(raw, 10_000), `the connection is closed (GOAWAY ${raw.goaways.join(', ') || 'not read before the close'})`);
  t.notOk(upstream.requests.some((r) => r.url === '/flood'), 'nothing reached the backend');
  await servedAfter(t, 'CONTINUATION flood');
});

t.test('HPACK bomb: a small block that decodes past maxHeaderListSize never becomes a request', async (t) => {
  const raw = await rawH2(port, certs.ca);
  // Let the client acknowledge our SETTINGS first: nghttp2 holds it to them from then on (the
  // requests before that are held to the same size by the proxy itself, with a 431).
  await new Promise((resolve) => setTimeout(resolve, 200));
  // One 4 KB field into the dynamic table, then 100 one-byte references to it: 400 KB decoded
  // from a 4.2 KB block, on 20 streams.
  const bomb = [literalIndexed('x-bomb', 'b'.repeat(4000)), ...Array.from({ length: 100 }, () => indexed(62))];
  for (let i = 0; i < 20; i++) raw.send(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1 + 2 * i, requestBlock('/bomb', 'localhost', i === 0 ? bomb : bomb.slice(1))));
  raw.send(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 41, requestBlock('/fine-after-bombs')));
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !raw.headers.includes(41)) await new Promise((resolve) => setTimeout(resolve, 20));
  // node answers ENHANCE_YOUR_CALM, then INTERNAL_ERROR once a stream's header memory is refused.
  const refused = raw.resets.filter((r) => r.streamId < 41 && r.code !== ERROR_CODE.NO_ERROR);
  t.same(refused.map((r) => r.streamId), Array.from({ length: 20 }, (_, i) => 1 + 2 * i), `every bomb is refused on its stream (codes ${[...new Set(refused.map((r) => r.code))].join(', ')})`);
  t.equal(refused[0]?.code, ERROR_CODE.ENHANCE_YOUR_CALM);
  t.notOk(raw.headers.some((id) => id < 41), 'no bomb got a response');
  t.ok(raw.headers.includes(41), 'a sound request on the same connection is still answered: the decoder state is intact');
  t.notOk(upstream.requests.some((r) => r.url === '/bomb'), 'nothing reached the backend');
  raw.socket.destroy();
  await servedAfter(t, 'HPACK bomb');
});

t.test('a client that never acknowledges our SETTINGS is closed with SETTINGS_TIMEOUT (RFC 9113 §6.5.3)', async (t) => {
  const raw = await rawH2(port, certs.ca, { ackSettings: false });
  t.ok(await closesWithin(raw, 15_000), 'the connection is closed');
  t.ok(raw.goaways.includes(4), `GOAWAY SETTINGS_TIMEOUT (got ${raw.goaways.join(', ') || 'none'})`);
  await servedAfter(t, 'SETTINGS timeout');
});

t.test('PING flood from a client that does not read the answers closes the connection', async (t) => {
  const raw = await rawH2(port, certs.ca);
  // Acknowledge our SETTINGS first, so only the flood can be why the connection closes.
  await new Promise((resolve) => setTimeout(resolve, 200));
  raw.socket.pause();
  const ping = frame(FRAME.PING, 0, 0, Buffer.alloc(8, 1));
  const batch = Buffer.concat(Array.from({ length: 10_000 }, () => ping));
  for (let i = 0; i < 100 && !raw.socket.destroyed; i++) {
    if (!raw.send(batch)) await Promise.race([new Promise((resolve) => raw.socket.once('drain', resolve)), raw.closed, new Promise((resolve) => setTimeout(resolve, 500))]);
  }
  raw.socket.resume();
  t.ok(await closesWithin(raw, 15_000), 'the connection is closed');
  t.notOk(raw.goaways.includes(4), 'by the flood limit, not the SETTINGS timeout');
  await servedAfter(t, 'PING flood');
});

t.test('SETTINGS flood: frames with more entries than maxSettings, and a flood of SETTINGS, close the connection', async (t) => {
  const wide = await rawH2(port, certs.ca);
  const entries = Buffer.concat(Array.from({ length: 100 }, (_, i) => Buffer.from([0, 0x3, 0, 0, 0, i])));
  wide.send(frame(FRAME.SETTINGS, 0, 0, entries));
  t.ok(await closesWithin(wide, 10_000), 'a SETTINGS frame with 100 entries closes the connection');

  const flood = await rawH2(port, certs.ca);
  await new Promise((resolve) => setTimeout(resolve, 200));
  flood.socket.pause();
  const settings = frame(FRAME.SETTINGS, 0, 0, Buffer.from([0, 0x3, 0, 0, 0, 10]));
  const batch = Buffer.concat(Array.from({ length: 10_000 }, () => settings));
  for (let i = 0; i < 100 && !flood.socket.destroyed; i++) {
    if (!flood.send(batch)) await Promise.race([new Promise((resolve) => flood.socket.once('drain', resolve)), flood.closed, new Promise((resolve) => setTimeout(resolve, 500))]);
  }
  flood.socket.resume();
  t.ok(await closesWithin(flood, 15_000), 'a flood of SETTINGS frames closes the connection');
  t.notOk(flood.goaways.includes(4), 'by the flood limit, not the SETTINGS timeout');
  await servedAfter(t, 'SETTINGS flood');
});

t.test('streams over maxConcurrentStreams are refused with REFUSED_STREAM; no more than that reach the backend', async (t) => {
  const before = upstream.requests.length;
  const raw = await rawH2(port, certs.ca);
  const frames: Buffer[] = [];
  for (let i = 0; i < 120; i++) frames.push(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1 + 2 * i, requestBlock('/slow')));
  raw.send(...frames);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const refused = raw.resets.filter((r) => r.code === ERROR_CODE.REFUSED_STREAM).length;
  t.equal(refused, 70, '70 of 120 streams are refused (retryable, RFC 9113 §8.7)');
  t.equal(upstream.requests.length - before, 50, 'the 50 allowed are proxied');
  raw.socket.destroy();
  await servedAfter(t, 'stream flood');
});

t.test('a request with a connection-specific header is refused on its stream only (RFC 9113 §8.2.2)', async (t) => {
  const raw = await rawH2(port, certs.ca);
  raw.send(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, requestBlock('/conn-specific', 'localhost', [literal('connection', 'keep-alive')])));
  raw.send(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 3, requestBlock('/transfer-encoding', 'localhost', [literal('transfer-encoding', 'chunked')])));
  raw.send(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 5, requestBlock('/fine')));
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !raw.headers.includes(5)) await new Promise((resolve) => setTimeout(resolve, 20));
  t.same(raw.resets.filter((r) => r.streamId !== 5).map((r) => [r.streamId, r.code]), [[1, ERROR_CODE.PROTOCOL_ERROR], [3, ERROR_CODE.PROTOCOL_ERROR]], 'both malformed streams get RST_STREAM PROTOCOL_ERROR');
  t.ok(raw.headers.includes(5), 'the well-formed stream on the same connection is answered');
  t.notOk(upstream.requests.some((r) => r.url === '/conn-specific' || r.url === '/transfer-encoding'), 'nothing malformed reached the backend');
  raw.socket.destroy();
});

t.test('connections closed for abuse are counted', async (t) => {
  let rapid = 0;
  for (let i = 0; i < 40 && rapid === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    rapid = (await scrape(vf)).get('veloflux_http2_connections_closed_total{reason="rapid_reset"}') ?? 0;
  }
  t.ok(rapid >= 1, `veloflux_http2_connections_closed_total{reason="rapid_reset"} is ${rapid}`);
});
