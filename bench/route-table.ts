// Route matching cost as the table grows (a micro benchmark of one hot function, in process):
// ns per match for a matched and an unmatched request, with 10, 10,000 and 50,000 routes over
// 100 exact hosts plus `*.suffix` and `*` groups, next to a scan of every route (what matching
// cost before the path index: it grew with the table).
//   npm run bench:routes [-- --sizes 10,10000,50000 --matches 200000]
import { RouteTable } from '../src/workers/runtime/route-table.js';
import type { RouteConfig } from '../src/shared/config/schema.js';
import { list, parseFlags, wholeNumber } from './flags.js';

const flags = parseFlags(process.argv.slice(2), {
  sizes: { type: 'string', default: '10,10000,50000' },
  matches: { type: 'string', default: '200000' },
});
const sizes = list(flags.sizes, '--sizes').map((s) => wholeNumber(s, '--sizes', 1));
const matches = wholeNumber(flags.matches, '--matches', 1000);

function routesOf(count: number): RouteConfig[] {
  const routes: RouteConfig[] = [];
  for (let i = 0; i < count; i++) {
    const host = i % 10 === 0 ? `*.zone${i % 50}.example.com` : i % 10 === 1 ? '*' : `host${i % 100}.example.com`;
    routes.push({ host, path: `/svc${i}/v${i % 7}/`, pool: 'p', stripPrefix: false, redirectHttps: false });
  }
  return routes;
}

/** The definition, as a scan of every route: what each match cost before the index. */
function scan(routes: readonly RouteConfig[], host: string, path: string): RouteConfig | undefined {
  let best: RouteConfig | undefined;
  for (const r of routes) {
    const hostOk = r.host === host || r.host === '*' || (r.host.startsWith('*.') && host.endsWith(r.host.slice(1)));
    if (hostOk && path.startsWith(r.path) && (best === undefined || r.path.length > best.path.length)) best = r;
  }
  return best;
}

function nsPer(fn: (i: number) => unknown, n: number): number {
  for (let i = 0; i < Math.min(n, 20_000); i++) fn(i); // warm up
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return Number(process.hrtime.bigint() - start) / n;
}

console.log('routes   matched ns  unmatched ns  scan matched ns  scan unmatched ns');
for (const size of sizes) {
  const routes = routesOf(size);
  const table = new RouteTable(routes, new Map([['p', 0]]));
  const hit = routes.find((r) => r.host.startsWith('host')) ?? routes[0]!;
  const hitHost = hit.host.startsWith('*') ? 'www.example.com' : hit.host;
  const hitPath = `${hit.path}item`;
  if (table.match(hitHost, hitPath)?.path !== scan(routes, hitHost, hitPath)?.path) throw new Error('the table and the scan disagree');
  const matched = nsPer(() => table.match(hitHost, hitPath), matches);
  const unmatched = nsPer(() => table.match('nobody.example.org', '/nothing/here'), matches);
  // The scan is slow by design: fewer rounds for large tables.
  const scanRounds = Math.max(100, Math.floor(matches / Math.max(1, size / 10)));
  const scanMatched = nsPer(() => scan(routes, hitHost, hitPath), scanRounds);
  const scanUnmatched = nsPer(() => scan(routes, 'nobody.example.org', '/nothing/here'), scanRounds);
  console.log(`${String(size).padStart(6)}  ${matched.toFixed(0).padStart(10)}  ${unmatched.toFixed(0).padStart(12)}  ${scanMatched.toFixed(0).padStart(15)}  ${scanUnmatched.toFixed(0).padStart(17)}`);
}
