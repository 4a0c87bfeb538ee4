/**
 * The compiled route table of one snapshot. Hosts are grouped (exact, `*.suffix` longest first,
 * `*`); inside a group the longest matching path prefix wins (PathIndex). Matching takes time
 * in the host's labels and the path's length, not in the number of routes; with up to 16
 * suffix groups it allocates nothing per request.
 *
 * A host group that has no route for the path falls through to the broader groups, so
 * `api.example.com` without a `/static` route still reaches `*.example.com /static` (as in
 * Traefik, where the most specific matching rule wins).
 */
import type { RouteConfig } from '../../shared/config/schema.js';
import type { RequestStage } from '../proxy/stages/request-stage.js';
import { PathIndex } from './path-index.js';

export interface CompiledRoute {
  /** `host` + `path` as configured: the route's metrics label. */
  readonly label: string;
  readonly host: string;
  readonly path: string;
  readonly poolIndex: number;
  readonly stripPrefix: boolean;
  /** What a request meets between routing and the upstream (redirect, rate limit...), compiled per snapshot. */
  readonly stages: readonly RequestStage[];
  /** The same with the security stage in any case: run while the live address lists have entries. */
  readonly guardedStages: readonly RequestStage[];
}

const NO_STAGES: readonly RequestStage[] = Object.freeze([]);
const NO_ROUTE_STAGES = Object.freeze({ stages: NO_STAGES, guardedStages: NO_STAGES });

interface SuffixGroup {
  /** `.example.com` for `*.example.com`. */
  readonly suffix: string;
  readonly routes: PathIndex<CompiledRoute>;
}

/** Up to this many `*.suffix` groups, each is tried in turn; past it, by a lookup per label of the host. */
const SUFFIX_SCAN_MAX = 16;

export class RouteTable {
  readonly #exact = new Map<string, PathIndex<CompiledRoute>>();
  /** Longest suffix first (tried in turn when few). */
  readonly #suffixes: SuffixGroup[] = [];
  /** The same groups by suffix, for many of them. */
  readonly #suffixMap = new Map<string, PathIndex<CompiledRoute>>();
  readonly #wildcard: PathIndex<CompiledRoute>;

  constructor(routes: readonly RouteConfig[], poolIndexByName: ReadonlyMap<string, number>, stagesOf: (route: RouteConfig) => Pick<CompiledRoute, 'stages' | 'guardedStages'> = () => NO_ROUTE_STAGES) {
    const exact = new Map<string, CompiledRoute[]>();
    const suffixes = new Map<string, CompiledRoute[]>();
    const wildcard: CompiledRoute[] = [];
    for (const route of routes) {
      const compiled: CompiledRoute = {
        label: `${route.host}${route.path}`,
        host: route.host,
        path: route.path,
        poolIndex: poolIndexByName.get(route.pool) ?? -1,
        stripPrefix: route.stripPrefix,
        ...stagesOf(route),
      };
      if (route.host === '*') wildcard.push(compiled);
      else if (route.host.startsWith('*.')) pushTo(suffixes, route.host.slice(1), compiled);
      else pushTo(exact, route.host, compiled);
    }
    for (const [host, list] of exact) this.#exact.set(host, new PathIndex(list));
    for (const [suffix, list] of suffixes) {
      const index = new PathIndex(list);
      this.#suffixes.push({ suffix, routes: index });
      this.#suffixMap.set(suffix, index);
    }
    this.#suffixes.sort((a, b) => b.suffix.length - a.suffix.length);
    this.#wildcard = new PathIndex(wildcard);
  }

  /** `host` is lower-case without port; `path` is the request target (a query string may follow). */
  match(host: string, path: string): CompiledRoute | undefined {
    const exact = this.#exact.get(host);
    if (exact !== undefined) {
      const hit = exact.match(path);
      if (hit !== undefined) return hit;
    }
    const hit = this.#suffixes.length <= SUFFIX_SCAN_MAX ? this.#scanSuffixes(host, path) : this.#lookUpSuffixes(host, path);
    return hit ?? this.#wildcard.match(path);
  }

  #scanSuffixes(host: string, path: string): CompiledRoute | undefined {
    for (let i = 0; i < this.#suffixes.length; i++) {
      const group = this.#suffixes[i]!;
      if (host.length > group.suffix.length && host.endsWith(group.suffix)) {
        const hit = group.routes.match(path);
        if (hit !== undefined) return hit;
      }
    }
    return undefined;
  }

  /** From the longest suffix of the host (after its first label) to the shortest. */
  #lookUpSuffixes(host: string, path: string): CompiledRoute | undefined {
    for (let dot = host.indexOf('.'); dot > 0; dot = host.indexOf('.', dot + 1)) {
      const hit = this.#suffixMap.get(host.slice(dot))?.match(path);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
