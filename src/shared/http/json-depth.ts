/**
 * How deeply a JSON text nests, measured before it is parsed. V8's JSON.parse copes with any depth,
 * but what walks the result afterwards recurses (schema validation, the config validator,
 * JSON.stringify for the IPC), so a body of some 10 000 nested objects overflowed the stack: a 500 instead of a 400
 * (issue 14, item 11a). The scan is one loop over the text, with no recursion of its own.
 */

/** Deeper than any request VeloFlux accepts (a whole config nests about 6 levels), far below what overflows. */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * True when arrays and objects in `text` nest deeper than `limit`. Brackets inside strings do not
 * count. Text that is not JSON gives a meaningless answer; the parser that runs next rejects it.
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > limit) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}
