// Command-line flags of the benchmark harness, parsed and validated once at start.
import { list, OptionsError, parseFlags, wholeNumber } from './flags.js';
import { LOADGENS, type Loadgen } from './loadgen.js';
import { wrkInstalled } from './wrk.js';

/** `veloflux-rl`: VeloFlux with a rate limit on its route that never triggers (`--rate-limit`). */
/** `baseline`: a bare node:http + undici Pool proxy (bench/baseline-proxy.ts). */
/** `veloflux-sec`: VeloFlux with its route in `security: block` (`--security`). */
/** `veloflux-tenant`: VeloFlux with its route owned by a tenant on a plan with a requests/s limit (`--tenant`). */
export const TARGET_NAMES = ['direct', 'veloflux', 'veloflux-rl', 'veloflux-sec', 'veloflux-tenant', 'baseline', 'nginx', 'fastify'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];
const DEFAULT_TARGETS: readonly TargetName[] = ['direct', 'veloflux', 'baseline', 'nginx', 'fastify'];

export const MODES = ['per-core', 'all'] as const;
export type Mode = (typeof MODES)[number];

/** Per-core placement: the proxy under test alone on one CPU, everything that feeds it on another. */
export const LOAD_CPU = 0;
export const PROXY_CPU = 1;

export interface BenchOptions {
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  /** Connections of the first load level; saturation raises them (bench/saturation.ts). */
  readonly connections: number;
  readonly loadgen: Loadgen;
  readonly sizes: readonly number[];
  readonly targets: readonly TargetName[];
  readonly mode: Mode;
  readonly json: boolean;
  /** Request headers wrk sends to every target (`Name: value`); browser-like with --security. */
  readonly headers: readonly string[];
}

/**
 * What an ordinary browser GET carries (Firefox on Linux, a session cookie and analytics cookies):
 * the security filter inspects the User-Agent and every cookie, so pricing it on wrk's bare
 * `Host`-only requests would flatter it.
 */
export const BROWSER_HEADERS: readonly string[] = Object.freeze([
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
  'Accept-Language: en-GB,en;q=0.7,fr;q=0.3',
  'Accept-Encoding: gzip, deflate, br',
  'Referer: https://shop.example.com/products?category=shoes&page=2',
  'Cookie: session=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSIsImlhdCI6MTcwMDAwMDAwMH0.c2lnbmF0dXJl; _ga=GA1.2.1234567890.1700000000; theme=dark; cart=3',
  'Upgrade-Insecure-Requests: 1',
]);

export const USAGE = `Usage: npm run bench -- [flags]

  --duration SECONDS     measured seconds per target and size (default 10)
  --warmup SECONDS       seconds of each saturation probe, unmeasured (default 2)
  --connections N        keep-alive connections of the first load level; per-core mode
                         doubles them (and wrk's threads) until the proxy's CPU is >= 95%
                         busy (default 50)
  --loadgen wrk|autocannon
                         load generator for the saturation runs (default wrk when
                         installed); equal-load latency always uses paced autocannon
  --sizes LIST           response body sizes in bytes (default 100,10240,1048576)
  --targets LIST         any of direct,veloflux,veloflux-rl,veloflux-sec,veloflux-tenant,baseline,nginx,fastify
                         (default direct,veloflux,baseline,nginx,fastify)
  --security             also measure veloflux-sec (VeloFlux with its route in security:
                         block) right after veloflux, with browser-like headers (User-Agent,
                         Accept*, Referer, cookies) sent to every target, to price the filter
  --tenant               also measure veloflux-tenant (the route owned by a tenant whose plan
                         has a requests/s limit that never triggers) right after veloflux, to
                         price the tenant stage (standing, quota, plan limit) and metering
  --rate-limit           also measure veloflux-rl (VeloFlux with a rate limit that never
                         triggers) right after veloflux, to price rate limiting
  --mode per-core|all    per-core: each proxy gets CPU 1, origin + load generator CPU 0;
                         all: everything floats, every proxy runs one process per core
                         (fastify and baseline under node:cluster) (default all)
  --json                 also print the results as JSON on stdout
  --help                 this text
`;


export function parseOptions(argv: readonly string[]): BenchOptions | 'help' {
  const v = parseFlags(argv, {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    loadgen: { type: 'string' },
    sizes: { type: 'string', default: '100,10240,1048576' },
    targets: { type: 'string', default: DEFAULT_TARGETS.join(',') },
    'rate-limit': { type: 'boolean', default: false },
    security: { type: 'boolean', default: false },
    tenant: { type: 'boolean', default: false },
    mode: { type: 'string', default: 'all' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  });
  if (v.help) return 'help';

  const targets = list(v.targets, '--targets').map((t) => {
    if (!(TARGET_NAMES as readonly string[]).includes(t)) {
      throw new OptionsError(`--targets: unknown target "${t}" (expected ${TARGET_NAMES.join(', ')})`);
    }
    return t as TargetName;
  });
  if (v['rate-limit'] && !targets.includes('veloflux-rl')) {
    const at = targets.indexOf('veloflux');
    targets.splice(at === -1 ? targets.length : at + 1, 0, 'veloflux-rl');
  }
  if (v.tenant && !targets.includes('veloflux-tenant')) {
    const at = targets.indexOf('veloflux');
    targets.splice(at === -1 ? targets.length : at + 1, 0, 'veloflux-tenant');
  }
  if (v.security && !targets.includes('veloflux-sec')) {
    const at = targets.indexOf('veloflux');
    targets.splice(at === -1 ? targets.length : at + 1, 0, 'veloflux-sec');
  }
  if (!(MODES as readonly string[]).includes(v.mode)) {
    throw new OptionsError(`--mode: expected ${MODES.join(' or ')}, got "${v.mode}"`);
  }
  const loadgen = v.loadgen ?? (wrkInstalled() ? 'wrk' : 'autocannon');
  if (!(LOADGENS as readonly string[]).includes(loadgen)) {
    throw new OptionsError(`--loadgen: expected ${LOADGENS.join(' or ')}, got "${loadgen}"`);
  }
  if (loadgen === 'wrk' && !wrkInstalled()) throw new OptionsError('--loadgen wrk: wrk is not installed (apt-get install -y wrk)');
  return Object.freeze({
    durationSeconds: wholeNumber(v.duration, '--duration', 1),
    warmupSeconds: wholeNumber(v.warmup, '--warmup', 0),
    connections: wholeNumber(v.connections, '--connections', 1),
    loadgen: loadgen as Loadgen,
    sizes: Object.freeze([...new Set(list(v.sizes, '--sizes').map((s) => wholeNumber(s, '--sizes', 1)))]),
    targets: Object.freeze([...new Set(targets)]),
    mode: v.mode as Mode,
    json: v.json,
    headers: targets.includes('veloflux-sec') ? BROWSER_HEADERS : Object.freeze([]),
  });
}
