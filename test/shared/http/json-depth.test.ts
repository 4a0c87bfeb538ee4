import t from 'tap';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../../src/shared/http/json-depth.js';

const nested = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

t.test('counts the nesting of arrays and objects', async (t) => {
  t.notOk(nestsDeeperThan(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH), `${MAX_JSON_DEPTH} levels: accepted`);
  t.ok(nestsDeeperThan(nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH), `${MAX_JSON_DEPTH + 1} levels: refused`);
  t.ok(nestsDeeperThan('['.repeat(3) + ']'.repeat(3), 2), 'arrays count too');
  t.notOk(nestsDeeperThan('[[1],[2],[3],{"a":4}]', 2), 'siblings do not add up');
  t.notOk(nestsDeeperThan('"plain"', 0), 'a scalar has no depth');
});

t.test('brackets inside strings, escaped quotes included, do not count', async (t) => {
  t.notOk(nestsDeeperThan(JSON.stringify({ a: '[[[[{{{{' }), 1), 'brackets in a string');
  t.notOk(nestsDeeperThan(JSON.stringify({ a: 'say \"[[[[\"', b: '\\\\' }), 1), 'escaped quotes and backslashes keep the string open or closed correctly');
  t.ok(nestsDeeperThan(JSON.stringify({ a: '\\\\', b: [[1]] }), 2), 'a string ending in a backslash closes where JSON says');
});

t.test('a million levels are scanned without recursion, in a few milliseconds', async (t) => {
  const text = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
  const started = performance.now();
  t.ok(nestsDeeperThan(text, MAX_JSON_DEPTH));
  t.ok(performance.now() - started < 100, `${(performance.now() - started).toFixed(2)} ms`);
  const flat = `[${'1,'.repeat(500_000)}1]`;
  const flatStarted = performance.now();
  t.notOk(nestsDeeperThan(flat, MAX_JSON_DEPTH), 'a flat 1 MB array passes');
  t.comment(`1 MB flat array scanned in ${(performance.now() - flatStarted).toFixed(2)} ms`);
});
