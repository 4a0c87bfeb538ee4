import t from 'tap';
import { parseH2RequestHead } from '../../../src/workers/proxy/h2-request-head.js';
import type { RequestHeadFields } from '../../../src/workers/proxy/request-head.js';

function parse(raw: string[], endStream = true, maxHeaderListSize = 16384): { problem: string | undefined; head: RequestHeadFields } {
  const head: RequestHeadFields = {
    upstreamHeaders: [],
    rawHost: '',
    contentLength: 0,
    incomingForwardedFor: undefined,
    incomingForwardedProto: undefined,
    incomingForwardedHost: undefined,
    incomingRequestId: undefined,
    incomingVia: undefined,
  };
  return { problem: parseH2RequestHead(raw, endStream, maxHeaderListSize, head), head };
}

const pseudo = [':method', 'GET', ':scheme', 'https', ':authority', 'example.com', ':path', '/x'];

t.test(':authority becomes Host; pseudo-headers are not forwarded; other fields keep their order', async (t) => {
  const { problem, head } = parse([...pseudo, 'accept', 'text/html', 'x-a', '1']);
  t.equal(problem, undefined);
  t.same(head.upstreamHeaders, ['accept', 'text/html', 'x-a', '1', 'host', 'example.com']);
  t.equal(head.rawHost, 'example.com');
  t.equal(head.contentLength, 0, 'END_STREAM on HEADERS: no body');
});

t.test('Host alone is used when there is no :authority; a Host that differs from :authority is refused', async (t) => {
  const alone = parse([':method', 'GET', ':scheme', 'https', ':path', '/', 'host', 'b.test']);
  t.equal(alone.problem, undefined);
  t.equal(alone.head.rawHost, 'b.test');
  t.equal(parse([...pseudo, 'host', 'EXAMPLE.com']).problem, undefined, 'the same authority in another case');
  t.equal(parse([...pseudo, 'host', 'other.test']).problem, 'VF_ERR_BAD_REQUEST');
  t.equal(parse([':method', 'GET', ':scheme', 'https', ':path', '/']).problem, 'VF_ERR_BAD_REQUEST', 'no authority at all');
  t.equal(parse([':method', 'GET', ':scheme', 'https', ':authority', 'a b', ':path', '/']).problem, 'VF_ERR_BAD_REQUEST', 'not a uri-host');
});

t.test('connection-specific fields make the request malformed (RFC 9113 §8.2.2); TE only as "trailers"', async (t) => {
  for (const [name, value] of [['connection', 'keep-alive'], ['keep-alive', 'timeout=5'], ['proxy-connection', 'keep-alive'], ['transfer-encoding', 'chunked'], ['upgrade', 'websocket'], ['te', 'gzip']]) {
    t.equal(parse([...pseudo, name!, value!]).problem, 'VF_ERR_BAD_REQUEST', `${name}: ${value}`);
  }
  const te = parse([...pseudo, 'te', 'trailers']);
  t.equal(te.problem, undefined);
  t.notOk(te.head.upstreamHeaders.includes('te'), 'TE is hop-by-hop: not forwarded as it is');
});

t.test('cookie crumbs are joined into one field with "; " (RFC 9113 §8.2.3)', async (t) => {
  const { head } = parse([...pseudo, 'cookie', 'a=1', 'x-b', '2', 'cookie', 'c=3']);
  t.same(head.upstreamHeaders, ['x-b', '2', 'host', 'example.com', 'cookie', 'a=1; c=3']);
});

t.test('a body: its Content-Length when declared, chunked upstream when not', async (t) => {
  const sized = parse([...pseudo, 'content-length', '12'], false);
  t.equal(sized.head.contentLength, 12);
  t.equal(parse([...pseudo], false).head.contentLength, -1);
  t.equal(parse([...pseudo, 'content-length', '1', 'content-length', '1'], false).problem, 'VF_ERR_BAD_REQUEST');
  t.equal(parse([...pseudo, 'content-length', '-1'], false).problem, 'VF_ERR_BAD_REQUEST');
});

t.test('headers VeloFlux sets itself are kept aside, not forwarded', async (t) => {
  const { head } = parse([...pseudo, 'x-forwarded-for', '10.0.0.1', 'x-request-id', 'abc', 'via', '1.1 other']);
  t.equal(head.incomingForwardedFor, '10.0.0.1');
  t.equal(head.incomingRequestId, 'abc');
  t.equal(head.incomingVia, '1.1 other');
  t.same(head.upstreamHeaders, ['via', '1.1 other', 'host', 'example.com']);
});

t.test('a header list over maxHeaderListSize (name + value + 32 per field, RFC 9113 §6.5.2) is a 431', async (t) => {
  const fields = [...pseudo, 'x-big', 'v'.repeat(1000)];
  const size = fields.reduce((sum, text) => sum + text.length, 0) + 32 * (fields.length / 2);
  t.equal(parse(fields, true, size).problem, undefined, 'exactly at the limit');
  t.equal(parse(fields, true, size - 1).problem, 'VF_ERR_HEADERS_TOO_LARGE');
});
