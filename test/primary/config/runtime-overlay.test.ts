/**
 * The runtime overlay (drain, weight, add/remove backend) as pure functions: what applying it to a
 * base config gives, what no longer fits a changed base (reported, not fatal), and that
 * operations never mutate the overlay or base they were given.
 */
import t from 'tap';
import { applyOverlay, emptyOverlay, isOverlayEmpty, withOperation, type DynamicInput, type RuntimeOverlay } from '../../../src/primary/config/runtime-overlay.js';

const base = (): DynamicInput => ({
  pools: [
    {
      name: 'web',
      algorithm: 'round_robin',
      backends: [
        { id: 'a', url: 'http://127.0.0.1:8001' },
        { id: 'b', url: 'http://127.0.0.1:8002', weight: 2 },
      ],
    },
    { name: 'api', backends: [{ id: 'x', url: 'http://127.0.0.1:9001' }] },
  ],
  routes: [{ path: '/', pool: 'web' }],
});

const ids = (dynamic: DynamicInput, pool = 'web') => dynamic.pools.find((p) => p.name === pool)!.backends.map((b) => b.id);
const backendOf = (dynamic: DynamicInput, id: string) => dynamic.pools.flatMap((p) => p.backends).find((b) => b.id === id);

t.test('an empty overlay gives the base unchanged, as a copy', async (t) => {
  const input = base();
  const { dynamic, skipped } = applyOverlay(input, emptyOverlay());
  t.same(dynamic, base());
  t.not(dynamic, input, 'a new object');
  t.same(skipped, []);
  t.ok(isOverlayEmpty(emptyOverlay()));
});

t.test('drain and weight settings land on their backend; other fields are kept', async (t) => {
  let overlay = withOperation(emptyOverlay(), { kind: 'drain', backendId: 'a', drain: true });
  overlay = withOperation(overlay, { kind: 'weight', backendId: 'b', weight: 7 });
  overlay = withOperation(overlay, { kind: 'weight', backendId: 'a', weight: 3 });
  const { dynamic, skipped } = applyOverlay(base(), overlay);
  t.same(backendOf(dynamic, 'a'), { id: 'a', url: 'http://127.0.0.1:8001', drain: true, weight: 3 }, 'weight did not undo the drain');
  t.same(backendOf(dynamic, 'b'), { id: 'b', url: 'http://127.0.0.1:8002', weight: 7 });
  t.equal(dynamic.pools[0]!.algorithm, 'round_robin', 'pool fields untouched');
  t.same(skipped, []);
  t.notOk(isOverlayEmpty(overlay));
});

t.test('undrain records drain: false, which overrides a drain written in the base', async (t) => {
  const drainedInBase = base();
  drainedInBase.pools[0]!.backends[0]!.drain = true;
  let overlay = withOperation(emptyOverlay(), { kind: 'drain', backendId: 'a', drain: true });
  overlay = withOperation(overlay, { kind: 'drain', backendId: 'a', drain: false });
  t.same(overlay.backends, { a: { drain: false } });
  t.equal(backendOf(applyOverlay(drainedInBase, overlay).dynamic, 'a')!.drain, false);
});

t.test('an added backend is appended to its pool; a removed one disappears', async (t) => {
  let overlay = withOperation(emptyOverlay(), { kind: 'add', pool: 'web', backend: { id: 'c', url: 'http://127.0.0.1:8003', weight: 4 } });
  overlay = withOperation(overlay, { kind: 'remove', backendId: 'a' });
  const { dynamic, skipped } = applyOverlay(base(), overlay);
  t.same(ids(dynamic), ['b', 'c']);
  t.same(backendOf(dynamic, 'c'), { id: 'c', url: 'http://127.0.0.1:8003', weight: 4 });
  t.same(ids(dynamic, 'api'), ['x'], 'other pools untouched');
  t.same(skipped, []);
});

t.test('settings can target a backend added at runtime', async (t) => {
  let overlay = withOperation(emptyOverlay(), { kind: 'add', pool: 'api', backend: { id: 'y', url: 'http://127.0.0.1:9002' } });
  overlay = withOperation(overlay, { kind: 'drain', backendId: 'y', drain: true });
  t.same(backendOf(applyOverlay(base(), overlay).dynamic, 'y'), { id: 'y', url: 'http://127.0.0.1:9002', drain: true });
});

t.test('removing a backend that was added at runtime leaves no trace', async (t) => {
  let overlay = withOperation(emptyOverlay(), { kind: 'add', pool: 'web', backend: { id: 'c', url: 'http://127.0.0.1:8003' } });
  overlay = withOperation(overlay, { kind: 'weight', backendId: 'c', weight: 9 });
  overlay = withOperation(overlay, { kind: 'remove', backendId: 'c' });
  t.same(overlay, emptyOverlay());
  t.ok(isOverlayEmpty(overlay));
});

t.test('removing a base backend forgets its settings', async (t) => {
  let overlay = withOperation(emptyOverlay(), { kind: 'drain', backendId: 'a', drain: true });
  overlay = withOperation(overlay, { kind: 'remove', backendId: 'a' });
  t.same(overlay, { backends: {}, added: [], removed: ['a'] });
});

t.test('a base backend removed and added again with a new URL uses the new URL', async (t) => {
  let overlay = withOperation(emptyOverlay(), { kind: 'remove', backendId: 'a' });
  overlay = withOperation(overlay, { kind: 'add', pool: 'web', backend: { id: 'a', url: 'http://127.0.0.1:8009' } });
  const { dynamic, skipped } = applyOverlay(base(), overlay);
  t.same(skipped, [], 'nothing skipped: the operator asked for exactly this');
  t.equal(dynamic.pools[0]!.backends.filter((b) => b.id === 'a').length, 1, 'one backend "a"');
  t.equal(backendOf(dynamic, 'a')!.url, 'http://127.0.0.1:8009', 'the re-added one');

  // Removing it again removes it for good, not back to the base one.
  overlay = withOperation(overlay, { kind: 'remove', backendId: 'a' });
  t.same(ids(applyOverlay(base(), overlay).dynamic), ['b']);
});

t.test('a backend can move to another pool by remove + add', async (t) => {
  let overlay = withOperation(emptyOverlay(), { kind: 'remove', backendId: 'x' });
  overlay = withOperation(overlay, { kind: 'add', pool: 'web', backend: { id: 'x', url: 'http://127.0.0.1:9001' } });
  const { dynamic, skipped } = applyOverlay(base(), overlay);
  t.same(ids(dynamic), ['a', 'b', 'x']);
  t.same(ids(dynamic, 'api'), []);
  t.same(skipped, []);
});

t.test('entries that no longer fit a changed base are skipped and named, the rest applies', async (t) => {
  let overlay: RuntimeOverlay = emptyOverlay();
  overlay = withOperation(overlay, { kind: 'add', pool: 'api', backend: { id: 'y', url: 'http://127.0.0.1:9002' } });
  overlay = withOperation(overlay, { kind: 'add', pool: 'web', backend: { id: 'c', url: 'http://127.0.0.1:8003' } });
  overlay = withOperation(overlay, { kind: 'remove', backendId: 'x' });
  overlay = withOperation(overlay, { kind: 'weight', backendId: 'a', weight: 5 });
  overlay = withOperation(overlay, { kind: 'drain', backendId: 'b', drain: true });

  // The file was edited: pool api is gone, web now defines "c" itself, "a" is gone.
  const edited: DynamicInput = {
    pools: [
      {
        name: 'web',
        backends: [
          { id: 'b', url: 'http://127.0.0.1:8002' },
          { id: 'c', url: 'http://127.0.0.1:8033' },
        ],
      },
    ],
    routes: [{ path: '/', pool: 'web' }],
  };
  const { dynamic, skipped } = applyOverlay(edited, overlay);
  t.same(dynamic.pools[0]!.backends, [
    { id: 'b', url: 'http://127.0.0.1:8002', drain: true },
    { id: 'c', url: 'http://127.0.0.1:8033' },
  ], 'the file\'s "c" wins, the drain of "b" still applies');
  t.same(skipped.sort(), [
    'add backend "c": the base config now defines it',
    'add backend "y": pool "api" is no longer configured',
    'remove backend "x": not in the base config',
    'settings for backend "a": no such backend any more',
  ]);
});

t.test('neither the base nor the overlay given is mutated', async (t) => {
  const input = base();
  const before = structuredClone(input);
  const overlay = withOperation(emptyOverlay(), { kind: 'add', pool: 'web', backend: { id: 'c', url: 'http://127.0.0.1:8003' } });
  const overlayBefore = structuredClone(overlay);
  const { dynamic } = applyOverlay(input, withOperation(overlay, { kind: 'drain', backendId: 'a', drain: true }));
  dynamic.pools[0]!.backends[0]!.weight = 99;
  (dynamic.pools[0]!.backends.find((b) => b.id === 'c') as { url: string }).url = 'http://changed:1';
  t.same(input, before, 'base untouched');
  t.same(overlay, overlayBefore, 'overlay untouched by withOperation and by edits to the result');

  const next = withOperation(overlay, { kind: 'remove', backendId: 'c' });
  t.not(next, overlay);
  t.equal(overlay.added.length, 1, 'the previous overlay still has its backend');
});

t.test('a malformed base (a reloaded file is not validated yet) is left for validation to report', async (t) => {
  const broken = { pools: [{ name: 'web' }], routes: [] } as unknown as DynamicInput;
  let overlay = withOperation(emptyOverlay(), { kind: 'remove', backendId: 'a' });
  overlay = withOperation(overlay, { kind: 'add', pool: 'web', backend: { id: 'c', url: 'http://127.0.0.1:8003' } });
  const { dynamic } = applyOverlay(broken, overlay);
  t.same(dynamic, broken, 'no crash, nothing invented');

  for (const pools of [5, 'web', { web: {} }, [null, 3, { name: 'web', backends: [null, 'a'] }]]) {
    const odd = { pools, routes: [] } as unknown as DynamicInput;
    t.doesNotThrow(() => applyOverlay(odd, overlay), `pools: ${JSON.stringify(pools)}`);
  }
});
