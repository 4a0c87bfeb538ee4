/**
 * The security filter on a real VeloFlux in front of a real upstream (issue 17): in block mode an
 * attack (query, JSON body, form body, scanner) is refused 403 VF_ERR_SECURITY_BLOCKED with a
 * request id and never reaches the upstream; the same attack passes in detect mode; benign
 * requests (bodies included, replayed intact after inspection) pass; a body past
 * inspectBodyBytes is forwarded or rejected per route; a denied address is refused on every
 * route; the counters reach /metrics.
 */
import t from 'tap';
import { request } from 'node:http';
import { startUpstream } from '../helpers/upstream.js';
import { startVeloflux, type RunningVeloflux } from '../helpers/veloflux.js';

const upstream = await startUpstream();
t.teardown(() => upstream.close());

const pools = [{ name: 'web', backends: [{ id: 'u1', url: upstream.url }] }];
const vf = await startVeloflux({
  pools,
  routes: [
    { path: '/', pool: 'web' },
    { path: '/shop/', pool: 'web', security: { mode: 'block', inspectBodyBytes: '1kb' } },
    { path: '/strict/', pool: 'web', security: { mode: 'block', inspectBodyBytes: '1kb', bodyOverflow: 'reject' } },
    { path: '/watch/', pool: 'web', security: { mode: 'detect' } },
    { path: '/cms/', pool: 'web', security: { mode: 'block', exclusions: [{ rules: ['xss'], parameters: ['body:html'] }] } },
  ],
});
t.teardown(() => vf.stop());

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(running: RunningVeloflux, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const all = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0', host: 'shop.example.com', ...headers };
    const req = request({ host: '127.0.0.1', port: running.port, method, path, headers: all, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const seen = () => upstream.requests.length;

t.test('block mode: attacks in the query, a JSON body, a form body and the User-Agent are refused and never reach the upstream', async (t) => {
  const attacks: [string, string, Record<string, string>, string | undefined][] = [
    ['GET', "/shop/products?id=1'%20OR%20'1'%3D'1", {}, undefined],
    ['POST', '/shop/api/comments', { 'content-type': 'application/json' }, JSON.stringify({ postId: 1, text: '<script>alert(document.cookie)</script>' })],
    ['POST', '/shop/login', { 'content-type': 'application/x-www-form-urlencoded' }, 'user=admin&pass=x%27%20or%201%3D1--'],
    ['GET', '/shop/', { 'user-agent': 'sqlmap/1.7.2#stable (https://sqlmap.org)' }, undefined],
    ['POST', '/shop/api/users', { 'content-type': 'application/json' }, '{"name":"eve","__proto__":{"isAdmin":true}}'],
  ];
  for (const [method, path, headers, body] of attacks) {
    const before = seen();
    const answer = await send(vf, method, path, headers, body);
    t.equal(answer.status, 403, `${method} ${path}: 403`);
    t.same(JSON.parse(answer.body).error.code, 'VF_ERR_SECURITY_BLOCKED');
    t.match(answer.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'the answer carries the request id');
    t.notMatch(answer.body, /942|941|sqli|xss|rule/i, 'and no rule details');
    t.equal(seen(), before, 'the upstream never saw it');
  }
});

t.test('block mode: benign requests pass, and an inspected body reaches the upstream byte for byte', async (t) => {
  const body = JSON.stringify({ name: "Patrick O'Brien", bio: 'rock & roll, SQL-looking prose: select the best one', padding: 'x'.repeat(3000) });
  const answer = await send(vf, 'POST', '/shop/api/users?utm_source=newsletter&q=O%27Brien', { 'content-type': 'application/json' }, body);
  t.equal(answer.status, 200);
  t.equal(JSON.parse(answer.body).bodyBytes, Buffer.byteLength(body), 'the whole body (past the 1 KiB inspected) was forwarded');
  const chunked = await new Promise<Answer>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: vf.port, method: 'POST', path: '/shop/form', agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'test' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.write('name=Zo%C3%AB&msg=');
    setTimeout(() => req.end('hello+world'), 50);
  });
  t.equal(chunked.status, 200, 'a chunked body sent in two parts');
  t.equal(JSON.parse(chunked.body).bodyBytes, 'name=Zo%C3%AB&msg=hello+world'.length);
  t.equal((await send(vf, 'GET', '/shop/search?q=rock+%26+roll')).status, 200);
});

t.test('bodies past inspectBodyBytes: forwarded uninspected by default, refused with 413 where the route says reject', async (t) => {
  const big = `a=${'b'.repeat(2048)}&c=<script>alert(1)</script>`;
  const forwarded = await send(vf, 'POST', '/shop/big', { 'content-type': 'application/x-www-form-urlencoded' }, big);
  t.equal(forwarded.status, 200, 'the attack past the first 1 KiB was not inspected (documented)');
  const before = seen();
  const rejected = await send(vf, 'POST', '/strict/big', { 'content-type': 'application/x-www-form-urlencoded' }, big);
  t.equal(rejected.status, 413);
  t.equal(JSON.parse(rejected.body).error.code, 'VF_ERR_BODY_TOO_LARGE');
  t.equal(seen(), before);
});

t.test('detect mode: the same attacks are forwarded', async (t) => {
  const before = seen();
  t.equal((await send(vf, 'GET', "/watch/products?id=1'%20OR%20'1'%3D'1")).status, 200);
  const answer = await send(vf, 'POST', '/watch/api/comments', { 'content-type': 'application/json' }, JSON.stringify({ text: '<script>alert(1)</script>' }));
  t.equal(answer.status, 200);
  t.equal(seen(), before + 2, 'both reached the upstream');
});

t.test('an exclusion lets through what it names and nothing else', async (t) => {
  const html = JSON.stringify({ html: '<p>Hi <iframe src="https://www.youtube.com/embed/x"></iframe></p>' });
  t.equal((await send(vf, 'POST', '/cms/pages', { 'content-type': 'application/json' }, html)).status, 200, 'XSS rules excluded for body:html');
  const other = JSON.stringify({ title: '<iframe src="https://evil.example"></iframe>' });
  t.equal((await send(vf, 'POST', '/cms/pages', { 'content-type': 'application/json' }, other)).status, 403, 'not for body:title');
});

t.test('the counters reach /metrics', async (t) => {
  const port = (vf.logs().find((l) => l.msg === 'veloflux ready')!.metrics as { port: number }).port;
  let text = '';
  for (let i = 0; i < 30; i++) {
    text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    if (text.includes('veloflux_security_events_total{category="xss",action="detected"}')) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  t.match(text, /veloflux_security_events_total\{category="sqli",action="blocked"\} [1-9]/);
  t.match(text, /veloflux_security_events_total\{category="xss",action="detected"\} [1-9]/);
  t.match(text, /veloflux_security_events_total\{category="scanner",action="blocked"\} [1-9]/);
  t.match(text, /veloflux_security_inspected_requests_total\{route="\*\/shop\/",mode="block"\} [1-9]/);
  t.match(text, /veloflux_security_uninspected_bodies_total\{route="\*\/strict\/",action="rejected"\} 1/);
});

t.test('an address on the deny list is refused on every route; on the allow list it skips the rules', async (t) => {
  const denied = await startVeloflux({ pools, routes: [{ path: '/', pool: 'web' }], security: { ipDeny: ['127.0.0.0/8'] } });
  t.teardown(() => denied.stop());
  const before = seen();
  const answer = await send(denied, 'GET', '/anything');
  t.equal(answer.status, 403);
  t.equal(JSON.parse(answer.body).error.code, 'VF_ERR_SECURITY_BLOCKED');
  t.equal(seen(), before, 'the upstream never saw it');

  const allowed = await startVeloflux({ pools, routes: [{ path: '/', pool: 'web' }], security: { mode: 'block', ipAllow: ['127.0.0.1'], ipDeny: ['127.0.0.0/8'] } });
  t.teardown(() => allowed.stop());
  t.equal((await send(allowed, 'GET', "/x?id=1'%20OR%20'1'%3D'1")).status, 200, 'allowed: neither refused nor inspected');
});
