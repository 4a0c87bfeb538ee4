import t from 'tap';
import { murmur3String } from '../../../src/workers/balancers/string-hash.js';

// Expected values: reference MurmurHash3_x86_32 over the string's UTF-16LE bytes.
t.test('matches MurmurHash3 x86_32 of the UTF-16LE encoding', async (t) => {
  t.equal(murmur3String(''), 0);
  t.equal(murmur3String('a'), 1867108634);
  t.equal(murmur3String('abc'), 1118836419);
  t.equal(murmur3String('hello'), 3619887497);
  t.equal(murmur3String('10.0.0.7'), 2884207892);
  t.equal(murmur3String('héllo€'), 2487848472);
  t.equal(murmur3String('a', 0, 1, 42), 2024861961);
});

t.test('hashes a range in place exactly like the substring', async (t) => {
  const header = 'a=1; sid=xyz; b=2';
  t.equal(murmur3String(header, 9, 12), murmur3String('xyz'));
  t.equal(murmur3String(header, 0, header.length), murmur3String(header));
});

t.test('returns unsigned 32-bit integers', async (t) => {
  let outOfRange = 0;
  for (let i = 0; i < 10_000; i++) {
    const hash = murmur3String(`key-${i}`);
    if (!Number.isInteger(hash) || hash < 0 || hash >= 2 ** 32) outOfRange++;
  }
  t.equal(outOfRange, 0);
});
