/**
 * Key escaping: every name placed in a Redis key comes back unchanged, two different names never
 * give the same text, and nothing that has a meaning in keys (separator, glob, hash tag) is left.
 */
import t from 'tap';
import { escapeKeyPart, unescapeKeyPart } from '../../../src/shared/state/key-escape.js';

const NAMES = ['plain', 'a:b', 'a%3Ab', 'a%b', '%', '%%', '*', 'a*', '{tag}', 'x}{y', '?[]', 'back\\slash', 'sp ace', 'tab\there', 'new\nline', 'ünïcødé', '🙂', '', 'a%3A'];

t.test('round trip: unescape(escape(name)) gives the name back', async (t) => {
  for (const name of NAMES) t.equal(unescapeKeyPart(escapeKeyPart(name)), name, JSON.stringify(name));
});

t.test('different names never give the same escaped text', async (t) => {
  const seen = new Map<string, string>();
  for (const name of NAMES) {
    const escaped = escapeKeyPart(name);
    t.notOk(seen.has(escaped), `${JSON.stringify(name)} and ${JSON.stringify(seen.get(escaped))} collide`);
    seen.set(escaped, name);
  }
});

t.test('"a:b", "a%3Ab" and the parts "a" + "b" joined by ":" give three different keys', async (t) => {
  const keyOf = (...parts: string[]) => parts.map(escapeKeyPart).join(':');
  const keys = [keyOf('a:b'), keyOf('a%3Ab'), keyOf('a', 'b')];
  t.equal(new Set(keys).size, 3, keys.join(' | '));
  // The separator survives only between parts, so a key still splits back into its parts.
  t.same(keyOf('a:b', 'c').split(':').map(unescapeKeyPart), ['a:b', 'c']);
});

t.test("'*', '{', '}', '%' and ':' are escaped; ordinary characters are left alone", async (t) => {
  t.equal(escapeKeyPart('*'), '%2A');
  t.equal(escapeKeyPart('{'), '%7B');
  t.equal(escapeKeyPart('}'), '%7D');
  t.equal(escapeKeyPart('%'), '%25');
  t.equal(escapeKeyPart(':'), '%3A');
  t.equal(escapeKeyPart('web-1.example_com'), 'web-1.example_com');
  for (const name of NAMES) t.notMatch(escapeKeyPart(name), /[:*?[\]{}\s]/, JSON.stringify(name));
});
