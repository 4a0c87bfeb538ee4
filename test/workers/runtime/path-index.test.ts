/**
 * PathIndex answers exactly what a scan of every route would (the longest path prefix, the first
 * configured on a tie), with the sorted list for small groups and the radix tree for large ones.
 */
import t from 'tap';
import { PathIndex } from '../../../src/workers/runtime/path-index.js';

interface R {
  readonly path: string;
  readonly id: number;
}

/** The definition: the longest matching prefix, the first in config order among equals. */
function oracle(routes: readonly R[], path: string): R | undefined {
  let best: R | undefined;
  for (const r of routes) if (path.startsWith(r.path) && (best === undefined || r.path.length > best.path.length)) best = r;
  return best;
}

/** A small deterministic generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function randomPath(next: () => number, maxSegments: number): string {
  const parts = ['api', 'v1', 'v2', 'users', 'u', 'static', 'a', 'ab', 'abc', 'x.y', ''];
  let path = '';
  const segments = 1 + Math.floor(next() * maxSegments);
  for (let i = 0; i < segments; i++) path += `/${parts[Math.floor(next() * parts.length)]}`;
  return next() < 0.3 ? `${path}/` : path;
}

for (const size of [1, 5, 16, 17, 200, 5000]) {
  t.test(`${size} routes: the same answers as a scan of every route`, async (t) => {
    const next = random(size);
    const routes: R[] = Array.from({ length: size }, (_, id) => ({ path: id === 0 ? '/' : randomPath(next, 4), id }));
    const index = new PathIndex(routes);
    let mismatches = 0;
    let matched = 0;
    for (let i = 0; i < 20_000; i++) {
      const path = next() < 0.5 ? randomPath(next, 6) : `${routes[Math.floor(next() * size)]!.path}${next() < 0.5 ? 'tail' : ''}`;
      const expected = oracle(routes, path);
      if (index.match(path) !== expected) mismatches++;
      if (expected !== undefined) matched++;
    }
    t.equal(mismatches, 0);
    t.ok(matched > 0, `${matched} of 20,000 paths matched a route`);
  });
}

t.test('no route for the path, and paths that end inside an edge label', async (t) => {
  const routes: R[] = Array.from({ length: 40 }, (_, id) => ({ path: `/svc${id}/api/`, id }));
  const index = new PathIndex(routes);
  t.equal(index.match('/other'), undefined);
  t.equal(index.match('/svc1'), undefined, 'stops inside the label /svc1/api/');
  t.equal(index.match('/svc12/api/x')?.id, 12);
  t.equal(index.match('/svc1/api/x')?.id, 1, '/svc1/ and /svc12/ share a prefix: the split is right');
});
