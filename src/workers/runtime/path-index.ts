/**
 * Longest-prefix match of a request path over one host group's route paths. Route paths are
 * string prefixes (`/api` matches `/apix`, as configured), so the index is over characters: a
 * radix tree (edges labelled with strings, split where paths diverge), walked once along the
 * request path, remembering the last route passed. Matching costs the path's length, not the
 * number of routes: 50,000 routes match as fast as 50 (bench/route-table.ts).
 *
 * Small groups (the usual case: a handful of routes per host) keep a list sorted longest first,
 * which is faster than the tree at that size; both allocate nothing per match.
 */
interface Node<T> {
  route: T | undefined;
  /** By the first character code of the edge label. */
  edges: Map<number, Edge<T>> | undefined;
}

interface Edge<T> {
  label: string;
  node: Node<T>;
}

/** Up to this many routes, a scan of the sorted list beats the tree. */
const LINEAR_MAX = 16;

export class PathIndex<T extends { readonly path: string }> {
  readonly #list: readonly T[] | undefined;
  readonly #root: Node<T> | undefined;

  /** `routes` in config order: of two routes with the same path, the first wins. */
  constructor(routes: readonly T[]) {
    if (routes.length <= LINEAR_MAX) {
      // A stable sort keeps config order among equal lengths.
      this.#list = [...routes].sort((a, b) => b.path.length - a.path.length);
      return;
    }
    const root: Node<T> = { route: undefined, edges: undefined };
    for (const route of routes) insert(root, route);
    this.#root = root;
  }

  /** The route with the longest path that `path` starts with. */
  match(path: string): T | undefined {
    const list = this.#list;
    if (list !== undefined) {
      for (let i = 0; i < list.length; i++) if (path.startsWith(list[i]!.path)) return list[i];
      return undefined;
    }
    let node = this.#root!;
    let best = node.route;
    let at = 0;
    while (at < path.length && node.edges !== undefined) {
      const edge = node.edges.get(path.charCodeAt(at));
      if (edge === undefined || !path.startsWith(edge.label, at)) break;
      at += edge.label.length;
      node = edge.node;
      if (node.route !== undefined) best = node.route;
    }
    return best;
  }
}

function insert<T extends { readonly path: string }>(root: Node<T>, route: T): void {
  const path = route.path;
  let node = root;
  let at = 0;
  for (;;) {
    if (at === path.length) {
      node.route ??= route;
      return;
    }
    node.edges ??= new Map();
    const first = path.charCodeAt(at);
    const edge = node.edges.get(first);
    if (edge === undefined) {
      node.edges.set(first, { label: path.slice(at), node: { route, edges: undefined } });
      return;
    }
    const common = commonPrefixLength(edge.label, path, at);
    if (common < edge.label.length) {
      // Split the edge where the paths diverge: the shared part leads to a new inner node.
      const inner: Node<T> = { route: undefined, edges: new Map([[edge.label.charCodeAt(common), { label: edge.label.slice(common), node: edge.node }]]) };
      edge.label = edge.label.slice(0, common);
      edge.node = inner;
    }
    node = edge.node;
    at += common;
  }
}

function commonPrefixLength(label: string, path: string, from: number): number {
  let i = 0;
  while (i < label.length && from + i < path.length && label.charCodeAt(i) === path.charCodeAt(from + i)) i++;
  return i;
}
