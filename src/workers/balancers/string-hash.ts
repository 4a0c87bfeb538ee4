/**
 * MurmurHash3 (x86, 32-bit) over a string's UTF-16 code units, two units per 32-bit block.
 * Chosen over plain FNV-1a because its final avalanche (`fmix32`) spreads keys that differ only
 * in their last character ("web-1#0", "web-1#1", "10.0.0.7") across the whole ring; FNV-1a leaves
 * such keys clustered. Reads the string in place through `charCodeAt`, so hashing a slice of a
 * header (a cookie value) needs no substring.
 * Reference: https://github.com/aappleby/smhasher/blob/master/src/MurmurHash3.cpp
 */
export function murmur3String(text: string, start = 0, end = text.length, seed = 0): number {
  let hash = seed | 0;
  const pairsEnd = start + ((end - start) & ~1);
  let i = start;
  for (; i < pairsEnd; i += 2) {
    let block = text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16);
    block = Math.imul(block, 0xcc9e2d51);
    block = (block << 15) | (block >>> 17);
    block = Math.imul(block, 0x1b873593);
    hash ^= block;
    hash = (hash << 13) | (hash >>> 19);
    hash = (Math.imul(hash, 5) + 0xe6546b64) | 0;
  }
  if (i < end) {
    let tail = text.charCodeAt(i);
    tail = Math.imul(tail, 0xcc9e2d51);
    tail = (tail << 15) | (tail >>> 17);
    tail = Math.imul(tail, 0x1b873593);
    hash ^= tail;
  }
  hash ^= (end - start) * 2;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
