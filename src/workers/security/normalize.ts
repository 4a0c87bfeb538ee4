/**
 * Input normalisation before the rules match (CRS's t:urlDecodeUni, t:htmlEntityDecode,
 * t:removeNulls, t:lowercase, t:compressWhitespace in one pass over a bounded value), so one
 * rule covers every spelling: `%3Cscript`, `%253Cscript`, `&lt;script`, `\u003cscript` and
 * `<ScRiPt` all reach the rules as `<script`.
 *
 * Linear time and bounded: a value is cut at MAX_VALUE_CHARS before anything else; percent
 * decoding runs at most DECODE_ROUNDS times (double and triple encoding, as used to slip past
 * filters that decode once). What the decoding saw that is itself suspicious (a null byte, a
 * malformed escape, %u / full-width forms, a CRLF followed by a header) is reported as flags.
 */

/** Values are inspected up to this many characters (the rest is not matched). */
export const MAX_VALUE_CHARS = 8192;
const DECODE_ROUNDS = 3;

/** What normalisation noticed, as bits. */
export const INPUT_FLAGS = {
  nullByte: 1,
  badEscape: 2,
  unicodeEscape: 4,
  crlfHeader: 8,
  /** An escape decoded to `/` or `\` (`..%2f`, `%c0%af`): a traversal spelt to slip past path normalisation. */
  encodedSlash: 16,
} as const;

/**
 * Character classes present in a normalised value, as bits: a rule names the classes it needs
 * and is skipped when none is present (most values are plain words and never reach a regex).
 */
export const CHARS = {
  quote: 1, // ' " `
  angle: 2, // < >
  paren: 4, // ( )
  shellSep: 8, // ; | & newline
  dollar: 16,
  dot: 32,
  slash: 64, // / \
  colon: 128,
  equals: 256,
  dash: 512,
  hash: 1024,
  brace: 2048, // { }
  underscore: 4096,
  at: 8192,
  bracket: 16384, // [ ]
  star: 32768,
  comma: 65536,
} as const;

const CHAR_CLASS = new Uint32Array(128);
const classOf = (chars: string, bit: number) => {
  for (const c of chars) CHAR_CLASS[c.charCodeAt(0)] = bit;
};
classOf(`'"\``, CHARS.quote);
classOf('<>', CHARS.angle);
classOf('()', CHARS.paren);
classOf(';|&\n\r', CHARS.shellSep);
classOf('$', CHARS.dollar);
classOf('.', CHARS.dot);
classOf('/\\', CHARS.slash);
classOf(':', CHARS.colon);
classOf('=', CHARS.equals);
classOf('-', CHARS.dash);
classOf('#', CHARS.hash);
classOf('{}', CHARS.brace);
classOf('_', CHARS.underscore);
classOf('@', CHARS.at);
classOf('[]', CHARS.bracket);
classOf('*', CHARS.star);
classOf(',', CHARS.comma);

/** The character classes present in `value`. */
export function charClasses(value: string): number {
  let mask = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 128) mask |= CHAR_CLASS[c]!;
  }
  return mask;
}

/** Result of one normalisation; reused by its owner (one per transaction), never per value. */
export class NormalizedInput {
  value = '';
  flags = 0;
  chars = 0;
  /** The value came urlencoded (a query or form value), where a malformed escape means something. */
  urlencoded = false;
}

/**
 * Normalises `raw` into `out`. `plusIsSpace`: a query or form value, where `+` means a space
 * (application/x-www-form-urlencoded); not for paths, headers or JSON strings.
 */
export function normalizeInto(out: NormalizedInput, raw: string, plusIsSpace: boolean): void {
  let value = raw.length > MAX_VALUE_CHARS ? raw.slice(0, MAX_VALUE_CHARS) : raw;
  let flags = 0;
  if (plusIsSpace && value.includes('+')) value = value.replaceAll('+', ' ');
  for (let round = 0; round < DECODE_ROUNDS && value.includes('%'); round++) {
    const decoded = percentDecode(value);
    // A `%` that a first decoding produced (`50%25` is "50%") is text, not a malformed escape.
    flags |= round === 0 ? decodeFlags : decodeFlags & ~INPUT_FLAGS.badEscape;
    if (decoded === value) break;
    value = decoded;
  }
  if (value.includes('\\')) value = decodeBackslashEscapes(value);
  if (value.includes('&')) value = decodeEntities(value);
  if (value.includes('\0')) {
    flags |= INPUT_FLAGS.nullByte;
    value = value.replaceAll('\0', '');
  }
  if ((value.includes('\n') || value.includes('\r')) && CRLF_HEADER.test(value)) flags |= INPUT_FLAGS.crlfHeader;
  value = value.toLowerCase();
  if (hasWideOrSpace(value)) value = foldWideAndSpace(value);
  out.value = value;
  out.flags = flags;
  out.urlencoded = plusIsSpace;
  out.chars = charClasses(value);
}

/** A line break followed by a header name that changes what a client or proxy does. */
const CRLF_HEADER = /[\r\n]\s{0,8}(?:set-cookie|location|content-(?:type|length)|transfer-encoding|refresh|host|x-[a-z-]{1,40}|access-control-[a-z-]{1,40})\s{0,8}:/i;

let decodeFlags = 0;
const BYTES = new Uint8Array(MAX_VALUE_CHARS * 4);

/**
 * One round of percent-decoding (and IIS's `%uXXXX`), then UTF-8 that tolerates overlong forms:
 * `%c0%af` is read as `/`, as the servers it targets read it.
 */
function percentDecode(value: string): string {
  decodeFlags = 0;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 37 /* % */) {
      const h1 = hex(value.charCodeAt(i + 1));
      const h2 = hex(value.charCodeAt(i + 2));
      if (h1 >= 0 && h2 >= 0) {
        const byte = (h1 << 4) | h2;
        if (byte === 0x2f || byte === 0x5c) decodeFlags |= INPUT_FLAGS.encodedSlash;
        BYTES[n++] = byte;
        i += 2;
        continue;
      }
      if ((value.charCodeAt(i + 1) | 32) === 117 /* u */) {
        const cp = hex4(value, i + 2);
        if (cp >= 0) {
          decodeFlags |= INPUT_FLAGS.unicodeEscape;
          n = writeUtf8(BYTES, n, cp);
          i += 5;
          continue;
        }
      }
      decodeFlags |= INPUT_FLAGS.badEscape;
      BYTES[n++] = 37;
      continue;
    }
    if (c < 0x80) BYTES[n++] = c;
    else n = writeUtf8(BYTES, n, c);
  }
  return decodeUtf8Lenient(BYTES, n);
}

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 32;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

function hex4(s: string, at: number): number {
  let cp = 0;
  for (let k = 0; k < 4; k++) {
    const h = hex(s.charCodeAt(at + k));
    if (h < 0) return -1;
    cp = (cp << 4) | h;
  }
  return cp;
}

function writeUtf8(bytes: Uint8Array, n: number, cp: number): number {
  if (n + 4 > bytes.length) return n;
  if (cp < 0x80) bytes[n++] = cp;
  else if (cp < 0x800) {
    bytes[n++] = 0xc0 | (cp >> 6);
    bytes[n++] = 0x80 | (cp & 63);
  } else {
    // Surrogate halves are written as they are (3 bytes each) and read back the same way.
    bytes[n++] = 0xe0 | (cp >> 12);
    bytes[n++] = 0x80 | ((cp >> 6) & 63);
    bytes[n++] = 0x80 | (cp & 63);
  }
  return n;
}

const isCont = (b: number | undefined) => b !== undefined && (b & 0xc0) === 0x80;

function decodeUtf8Lenient(bytes: Uint8Array, n: number): string {
  let out = '';
  let ascii = true;
  for (let i = 0; i < n; i++) {
    if (bytes[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return Buffer.from(bytes.buffer, bytes.byteOffset, n).toString('latin1');
  const codes: number[] = [];
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    if (b < 0x80) codes.push(b);
    else if ((b & 0xe0) === 0xc0 && i + 1 < n && isCont(bytes[i + 1])) {
      codes.push(((b & 0x1f) << 6) | (bytes[i + 1]! & 63));
      i += 1;
    } else if ((b & 0xf0) === 0xe0 && i + 2 < n && isCont(bytes[i + 1]) && isCont(bytes[i + 2])) {
      codes.push(((b & 0x0f) << 12) | ((bytes[i + 1]! & 63) << 6) | (bytes[i + 2]! & 63));
      i += 2;
    } else if ((b & 0xf8) === 0xf0 && i + 3 < n && isCont(bytes[i + 1]) && isCont(bytes[i + 2]) && isCont(bytes[i + 3])) {
      const cp = ((b & 0x07) << 18) | ((bytes[i + 1]! & 63) << 12) | ((bytes[i + 2]! & 63) << 6) | (bytes[i + 3]! & 63);
      codes.push(cp > 0x10ffff ? 0xfffd : cp);
      i += 3;
    } else codes.push(0xfffd);
    if (codes.length >= 4096) {
      out += String.fromCodePoint(...codes);
      codes.length = 0;
    }
  }
  return codes.length === 0 ? out : out + String.fromCodePoint(...codes);
}

/** `\u003c` and `\x3c` (JavaScript escapes in a query value aimed at a DOM sink). */
const BACKSLASH_ESCAPE = /\\(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2}))/g;

function decodeBackslashEscapes(value: string): string {
  return value.replace(BACKSLASH_ESCAPE, (_m, u: string | undefined, x: string | undefined) => String.fromCharCode(parseInt(u ?? x!, 16)));
}

const NAMED_ENTITIES: Record<string, string> = {
  lt: '<', gt: '>', quot: '"', apos: "'", amp: '&', colon: ':', tab: '\t', newline: '\n', lpar: '(', rpar: ')',
  sol: '/', bsol: '\\', semi: ';', comma: ',', period: '.', excl: '!', num: '#', dollar: '$', percnt: '%',
  lbrack: '[', rbrack: ']', lbrace: '{', rbrace: '}', grave: '`', equals: '=', plus: '+', quest: '?', nbsp: ' ',
};

/** HTML character references, with or without the closing `;` (browsers accept both in attributes). */
const ENTITY = /&(?:#(\d{1,7});?|#[xX]([0-9a-fA-F]{1,6});?|([a-zA-Z]{2,7});)/g;

function decodeEntities(value: string): string {
  return value.replace(ENTITY, (whole, dec: string | undefined, hexa: string | undefined, name: string | undefined) => {
    if (name !== undefined) return NAMED_ENTITIES[name.toLowerCase()] ?? whole;
    const cp = dec !== undefined ? Number(dec) : parseInt(hexa!, 16);
    return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : '';
  });
}

function hasWideOrSpace(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 9 || c === 10 || c === 13 || c === 11 || c === 12 || (c === 32 && value.charCodeAt(i + 1) === 32)) return true;
    if ((c >= 0xff01 && c <= 0xff5e) || c === 0x2215 || c === 0x2216) return true;
  }
  return false;
}

/** Full-width ASCII (U+FF01..FF5E) and slash look-alikes folded to ASCII, runs of whitespace to one space (or one line break). */
function foldWideAndSpace(value: string): string {
  let out = '';
  let space = false;
  for (let i = 0; i < value.length; i++) {
    let c = value.charCodeAt(i);
    if (c >= 0xff01 && c <= 0xff5e) c -= 0xfee0;
    // Division slash and set minus: IIS's best-fit mapping reads them as / and \ (`..%u2215`).
    else if (c === 0x2215) c = 47;
    else if (c === 0x2216) c = 92;
    if (c === 32 || (c >= 9 && c <= 13)) {
      // A line break stays one (a shell reads it as a command separator); other runs become one space.
      const blank = c === 10 || c === 13 ? '\n' : ' ';
      if (!space) out += blank;
      else if (blank === '\n') out = out.slice(0, -1) + blank;
      space = true;
      continue;
    }
    space = false;
    out += String.fromCharCode(c);
  }
  return out;
}
