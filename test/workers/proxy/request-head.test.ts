import t from 'tap';
import { HOP_BY_HOP, parseRequestHead, removeConnectionNominated, type RequestHeadFields } from '../../../src/workers/proxy/request-head.js';

function fields(): RequestHeadFields {
  return {
    upstreamHeaders: [],
    rawHost: '',
    contentLength: 0,
    incomingForwardedFor: undefined,
    incomingForwardedProto: undefined,
    incomingForwardedHost: undefined,
    incomingRequestId: undefined,
  };
}

/** Parses `raw` as an HTTP/1.`minor` head; returns the error code (or undefined) and the fields. */
function parse(raw: string[], minor = 1): { problem: string | undefined; head: RequestHeadFields } {
  const head = fields();
  const problem = parseRequestHead(raw, minor, head);
  return { problem, head };
}

t.test('forwards end-to-end headers in order with their original case', async (t) => {
  const { problem, head } = parse(['Host', 'example.com', 'Accept', 'text/html', 'X-Custom', 'a', 'x-custom', 'b']);
  t.equal(problem, undefined);
  t.same(head.upstreamHeaders, ['Host', 'example.com', 'Accept', 'text/html', 'X-Custom', 'a', 'x-custom', 'b']);
  t.equal(head.rawHost, 'example.com');
  t.equal(head.contentLength, 0);
});

t.test('drops every hop-by-hop header, whatever its case', async (t) => {
  const raw = ['Host', 'a'];
  for (const name of ['Connection', 'Keep-Alive', 'Proxy-Connection', 'TE', 'Trailer', 'Upgrade', 'HTTP2-Settings']) raw.push(name, 'x');
  raw.push('Transfer-Encoding', 'chunked', 'X-Kept', '1');
  const { problem, head } = parse(raw);
  t.equal(problem, undefined);
  t.same(head.upstreamHeaders, ['Host', 'a', 'X-Kept', '1']);
  for (const name of HOP_BY_HOP) t.notOk(head.upstreamHeaders.some((h) => h.toLowerCase() === name), `${name} not forwarded`);
});

t.test('drops headers named in Connection, across several Connection lines', async (t) => {
  const { problem, head } = parse([
    'Host', 'a',
    'Connection', 'X-Secret , keep-alive',
    'X-Secret', 's',
    'connection', 'close,x-other',
    'X-Other', 'o',
    'X-Kept', 'k',
  ]);
  t.equal(problem, undefined);
  t.same(head.upstreamHeaders, ['Host', 'a', 'X-Kept', 'k']);
});

t.test('Upgrade: h2c and its HTTP2-Settings are not forwarded', async (t) => {
  const { problem, head } = parse(['Host', 'a', 'Connection', 'Upgrade, HTTP2-Settings', 'Upgrade', 'h2c', 'HTTP2-Settings', 'AAMAAABkAARAAAAAAAIAAAAA']);
  t.equal(problem, undefined);
  t.same(head.upstreamHeaders, ['Host', 'a']);
});

t.test('Connection cannot strip Host or Content-Length (hop-by-hop abuse)', async (t) => {
  const { problem, head } = parse(['Host', 'a', 'Content-Length', '3', 'Connection', 'host, content-length, x-gone', 'X-Gone', '1']);
  t.equal(problem, undefined);
  t.same(head.upstreamHeaders, ['Host', 'a', 'Content-Length', '3']);
  t.equal(head.contentLength, 3);
});

t.test('removeConnectionNominated ignores close and keep-alive tokens and empty items', async (t) => {
  const headers = ['Close', '1', 'Keep-Alive', 'timeout=5', 'X-A', '1'];
  removeConnectionNominated(headers, ' , close, keep-alive,,');
  t.same(headers, ['Close', '1', 'Keep-Alive', 'timeout=5', 'X-A', '1']);
  removeConnectionNominated(headers, 'X-A');
  t.same(headers, ['Close', '1', 'Keep-Alive', 'timeout=5']);
});

t.test('captures X-Forwarded-*, X-Request-Id and does not copy them (nor Expect, Forwarded)', async (t) => {
  const { problem, head } = parse([
    'Host', 'a',
    'X-Forwarded-For', '10.0.0.1',
    'x-forwarded-for', '10.0.0.2, 10.0.0.3',
    'X-Forwarded-Proto', 'https',
    'X-Forwarded-Host', 'public.example',
    'X-Request-Id', 'abc-123',
    'Forwarded', 'for=1.2.3.4',
    'Expect', '100-continue',
    'Accept', '*/*',
  ]);
  t.equal(problem, undefined);
  t.equal(head.incomingForwardedFor, '10.0.0.1, 10.0.0.2, 10.0.0.3');
  t.equal(head.incomingForwardedProto, 'https');
  t.equal(head.incomingForwardedHost, 'public.example');
  t.equal(head.incomingRequestId, 'abc-123');
  t.same(head.upstreamHeaders, ['Host', 'a', 'Accept', '*/*']);
});

t.test('leaves the X-Forwarded-* fields undefined when the client sent none', async (t) => {
  const { head } = parse(['Host', 'a']);
  t.equal(head.incomingForwardedFor, undefined);
  t.equal(head.incomingForwardedProto, undefined);
  t.equal(head.incomingForwardedHost, undefined);
  t.equal(head.incomingRequestId, undefined);
});

t.test('body length: Content-Length, chunked (-1) or none (0)', async (t) => {
  t.equal(parse(['Host', 'a', 'Content-Length', '42']).head.contentLength, 42);
  t.equal(parse(['Host', 'a', 'Content-Length', '0']).head.contentLength, 0);
  const chunked = parse(['Host', 'a', 'Transfer-Encoding', 'Chunked']);
  t.equal(chunked.problem, undefined);
  t.equal(chunked.head.contentLength, -1);
  t.notOk(chunked.head.upstreamHeaders.includes('Transfer-Encoding'), 'undici frames the body itself');
  t.equal(parse(['Host', 'a']).head.contentLength, 0);
});

t.test('Host rules (RFC 9112 §3.2)', async (t) => {
  t.equal(parse(['Host', 'a', 'Host', 'a']).problem, 'VF_ERR_BAD_REQUEST', 'two Host headers, same value');
  t.equal(parse(['Host', 'a', 'host', 'b']).problem, 'VF_ERR_BAD_REQUEST', 'two Host headers, different values');
  t.equal(parse(['Accept', '*/*']).problem, 'VF_ERR_BAD_REQUEST', 'no Host in HTTP/1.1');
  t.equal(parse(['Accept', '*/*'], 0).problem, undefined, 'no Host is fine in HTTP/1.0');
  for (const bad of ['a/b', 'user@a', 'a b', 'a:80x', 'a\\b', '[::1', 'a?b', 'a#b']) {
    t.equal(parse(['Host', bad]).problem, 'VF_ERR_BAD_REQUEST', `invalid Host ${JSON.stringify(bad)}`);
  }
  for (const good of ['example.com', 'example.com:8080', '127.0.0.1:80', '[::1]', '[::1]:8080', 'xn--bcher-kva.example', 'a_b.local', '']) {
    const { problem, head } = parse(['Host', good]);
    t.equal(problem, undefined, `valid Host ${JSON.stringify(good)}`);
    t.equal(head.rawHost, good);
  }
});

t.test('Content-Length rules (RFC 9112 §6.3 rule 5)', async (t) => {
  t.equal(parse(['Host', 'a', 'Content-Length', '4', 'Content-Length', '4']).problem, 'VF_ERR_BAD_REQUEST', 'duplicate, same value');
  t.equal(parse(['Host', 'a', 'Content-Length', '4', 'content-length', '5']).problem, 'VF_ERR_BAD_REQUEST', 'duplicate, different values');
  for (const bad of ['', 'abc', '+4', '-1', '0x10', '4 4', '4,4', '1e3', ' 4']) {
    t.equal(parse(['Host', 'a', 'Content-Length', bad]).problem, 'VF_ERR_BAD_REQUEST', `Content-Length ${JSON.stringify(bad)}`);
  }
});

t.test('Transfer-Encoding rules (RFC 9112 §6.1, §6.3)', async (t) => {
  const te = (...values: string[]) => ['Host', 'a', ...values.flatMap((v) => ['Transfer-Encoding', v])];
  t.equal(parse(te('')).problem, 'VF_ERR_BAD_REQUEST', 'empty value');
  t.equal(parse([...te(''), 'Content-Length', '4']).problem, 'VF_ERR_BAD_REQUEST', 'empty value with Content-Length');
  t.equal(parse(te('gzip')).problem, 'VF_ERR_BAD_REQUEST', 'gzip alone (not final chunked)');
  t.equal(parse(te('chunked, gzip')).problem, 'VF_ERR_BAD_REQUEST', 'chunked, gzip');
  t.equal(parse(te('gzip, chunked')).problem, 'VF_ERR_BAD_REQUEST', 'gzip, chunked: the gzip coding could not be forwarded');
  t.equal(parse(te('chunked, chunked')).problem, 'VF_ERR_BAD_REQUEST', 'chunked twice in one line');
  t.equal(parse(te('chunked', 'chunked')).problem, 'VF_ERR_BAD_REQUEST', 'chunked on two lines');
  t.equal(parse(te('chunked', '')).problem, 'VF_ERR_BAD_REQUEST', 'chunked then an empty line');
  t.equal(parse(te('xchunked')).problem, 'VF_ERR_BAD_REQUEST', 'a coding that merely contains chunked');
  t.equal(parse(['Host', 'a', 'Content-Length', '4', 'Transfer-Encoding', 'chunked']).problem, 'VF_ERR_BAD_REQUEST', 'Content-Length then chunked');
  t.equal(parse(['Host', 'a', 'Transfer-Encoding', 'chunked', 'Content-Length', '4']).problem, 'VF_ERR_BAD_REQUEST', 'chunked then Content-Length');
  t.equal(parse(te('chunked'), 0).problem, 'VF_ERR_BAD_REQUEST', 'any Transfer-Encoding in HTTP/1.0');
  t.equal(parse(te(' chunked ')).problem, undefined, 'surrounding whitespace is fine');
});
