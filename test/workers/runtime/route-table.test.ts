import t from 'tap';
import { RouteTable } from '../../../src/workers/runtime/route-table.js';
import type { RouteConfig } from '../../../src/shared/config/schema.js';

const pools = new Map([
  ['exact', 0],
  ['suffix', 1],
  ['any', 2],
  ['api', 3],
  ['deep', 4],
]);
const route = (host: string, path: string, pool: string, stripPrefix = false): RouteConfig => ({ host, path, pool, stripPrefix, redirectHttps: false });

const table = new RouteTable(
  [
    route('*', '/', 'any'),
    route('*', '/api/', 'api'),
    route('*', '/api/v2/deep', 'deep'),
    route('shop.example.com', '/', 'exact'),
    route('*.example.com', '/static/', 'suffix'),
    route('*.b.example.com', '/', 'deep'),
  ],
  pools,
);
const poolOf = (host: string, path: string) => table.match(host, path)?.poolIndex;

t.test('longest path prefix wins, query strings do not matter', async (t) => {
  t.equal(poolOf('other.org', '/'), 2);
  t.equal(poolOf('other.org', '/api/users?x=1'), 3);
  t.equal(poolOf('other.org', '/api/v2/deep/x'), 4);
  t.equal(poolOf('other.org', '/api'), 2, '"/api" does not match the "/api/" prefix');
});

t.test('exact host beats *.suffix beats *', async (t) => {
  t.equal(poolOf('shop.example.com', '/static/x'), 0, 'exact host group matches first');
  t.equal(poolOf('www.example.com', '/static/x'), 1);
  t.equal(poolOf('www.example.com', '/other'), 2, 'falls through to * when the suffix group has no path match');
  t.equal(poolOf('example.com', '/static/x'), 2, '*.example.com does not match the bare domain');
  t.equal(poolOf('x.b.example.com', '/static/x'), 4, 'the longest suffix is tried first');
});

t.test('no route', async (t) => {
  const empty = new RouteTable([route('a.com', '/x', 'exact')], pools);
  t.equal(empty.match('b.com', '/x'), undefined);
  t.equal(empty.match('a.com', '/y'), undefined);
});

t.test('match() allocates nothing per request', async (t) => {
  const gc = (globalThis as { gc?: () => void }).gc;
  const hosts = ['www.example.com', 'shop.example.com', 'other.org'];
  const paths = ['/static/a.css', '/api/v2/deep/q', '/index.html'];
  for (let i = 0; i < 100_000; i++) table.match(hosts[i % 3]!, paths[i % 3]!);
  gc?.();
  const before = process.memoryUsage().heapUsed;
  let hits = 0;
  for (let i = 0; i < 1_000_000; i++) if (table.match(hosts[i % 3]!, paths[i % 3]!) !== undefined) hits++;
  const grown = process.memoryUsage().heapUsed - before;
  t.equal(hits, 1_000_000);
  // A single 16-byte allocation per call would grow the heap by ~16 MB over a million calls.
  t.ok(grown < 2 * 1024 * 1024, `heap grew ${grown} bytes over 1M matches`);
});

t.test('many *.suffix groups: looked up per host label, the same rules (longest suffix first, falling through)', async (t) => {
  const routes = Array.from({ length: 40 }, (_, i) => route(`*.s${i}.example.com`, '/static/', 'suffix'));
  routes.push(route('*.example.com', '/', 'deep'), route('*', '/', 'any'));
  const big = new RouteTable(routes, pools);
  t.equal(big.match('a.s7.example.com', '/static/x')?.host, '*.s7.example.com');
  t.equal(big.match('a.b.s7.example.com', '/static/x')?.host, '*.s7.example.com', 'deeper hosts match too');
  t.equal(big.match('a.s7.example.com', '/other')?.host, '*.example.com', 'no path match: the broader suffix');
  t.equal(big.match('s7.example.com', '/static/x')?.host, '*.example.com', '*.s7.example.com does not match the bare name');
  t.equal(big.match('other.org', '/x')?.host, '*');
});
