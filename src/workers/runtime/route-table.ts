/**
 * The compiled route table of one snapshot. Hosts are grouped (exact, `*.suffix` longest first,
 * `*`); inside a group routes are ordered by path prefix length, longest first. `match()` only
 * compares strings already in the table: it allocates nothing per request.
 *
 * A host group that has no route for the path falls through to the broader groups, so
 * `api.example.com` without a `/static` route still reaches `*.example.com /static` (as in
 * Traefik, where the most specific matching rule wins).
 */
import type { RouteConfig } from '../../shared/config/schema.js';
import type { RequestStage } from '../proxy/stages/request-stage.js';

export interface CompiledRoute {
  /** `host` + `path` as configured: the route's metrics label. */
  readonly label: string;
  readonly host: string;
  readonly path: string;
  readonly poolIndex: number;
  readonly stripPrefix: boolean;
  /** What a request meets between routing and the upstream (redirect, rate limit...), compiled per snapshot. */
  readonly stages: readonly RequestStage[];
}

const NO_STAGES: readonly RequestStage[] = Object.freeze([]);

interface SuffixGroup {
  /** `.example.com` for `*.example.com`. */
  readonly suffix: string;
  readonly routes: readonly CompiledRoute[];
}

const byPathLengthDesc = (a: CompiledRoute, b: CompiledRoute) => b.path.length - a.path.length;

export class RouteTable {
  readonly #exact = new Map<string, CompiledRoute[]>();
  readonly #suffixes: SuffixGroup[] = [];
  readonly #wildcard: CompiledRoute[] = [];

  constructor(routes: readonly RouteConfig[], poolIndexByName: ReadonlyMap<string, number>, stagesOf: (route: RouteConfig) => readonly RequestStage[] = () => NO_STAGES) {
    const suffixMap = new Map<string, CompiledRoute[]>();
    for (const route of routes) {
      const compiled: CompiledRoute = {
        label: `${route.host}${route.path}`,
        host: route.host,
        path: route.path,
        poolIndex: poolIndexByName.get(route.pool) ?? -1,
        stripPrefix: route.stripPrefix,
        stages: stagesOf(route),
      };
      if (route.host === '*') this.#wildcard.push(compiled);
      else if (route.host.startsWith('*.')) pushTo(suffixMap, route.host.slice(1), compiled);
      else pushTo(this.#exact, route.host, compiled);
    }
    for (const list of this.#exact.values()) list.sort(byPathLengthDesc);
    for (const [suffix, list] of suffixMap) this.#suffixes.push({ suffix, routes: list.sort(byPathLengthDesc) });
    this.#suffixes.sort((a, b) => b.suffix.length - a.suffix.length);
    this.#wildcard.sort(byPathLengthDesc);
  }

  /** `host` is lower-case without port; `path` is the request target (a query string may follow). */
  match(host: string, path: string): CompiledRoute | undefined {
    const exact = this.#exact.get(host);
    if (exact !== undefined) {
      const hit = matchPath(exact, path);
      if (hit !== undefined) return hit;
    }
    for (let i = 0; i < this.#suffixes.length; i++) {
      const group = this.#suffixes[i]!;
      if (host.length > group.suffix.length && host.endsWith(group.suffix)) {
        const hit = matchPath(group.routes, path);
        if (hit !== undefined) return hit;
      }
    }
    return matchPath(this.#wildcard, path);
  }
}

function matchPath(routes: readonly CompiledRoute[], path: string): CompiledRoute | undefined {
  for (let i = 0; i < routes.length; i++) {
    if (path.startsWith(routes[i]!.path)) return routes[i];
  }
  return undefined;
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
