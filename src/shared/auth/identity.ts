/**
 * What an identity may look like: emails and display names (of users and tenants); which
 * characters a password may hold is passwords.ts's policy. Text is NFKC-normalised first (UAX
 * #15), so a full-width or compatibility form of a character is that character, and what is left
 * must be visible: control (Cc), format (Cf: zero-width characters, bidi overrides such as
 * U+202E), private-use, surrogate, unassigned, line/paragraph separators and other
 * default-ignorable characters (U+3164 HANGUL FILLER) are refused, since they make two identities
 * that look the same differ, or reorder what an operator reads (Trojan Source, CVE-2021-42574).
 *
 * Emails follow a conservative subset of RFC 5322/6531: `local@domain`, the local part dot-atoms
 * of letters, digits and RFC 5322 `atext` symbols (no quoted strings, comments, `<>`, `()`, `,`,
 * `;`, `\`, spaces), the domain dot-separated labels of letters, digits and inner hyphens (one
 * label is fine: `admin@localhost` is the default first admin). The local part, and each label of
 * the domain, must be written in one script, as UTS #39 "highly restrictive" asks (Latin may mix
 * with Han, Kana, Hangul or Bopomofo as Japanese, Chinese and Korean are written), which refuses
 * `pаypal.com` with a Cyrillic `а`. Look-alikes within one script (all-Cyrillic `аррӏе`) are not
 * caught: that needs UTS #39's confusable tables.
 *
 * Emails are compared in a canonical form: NFKC and lower case, the local part included. RFC 5321
 * §2.4 lets a mail server treat `Ada` and `ada` as two mailboxes, but hardly any does, and letting
 * `Ada@x` and `ada@x` be two accounts invites impersonation; it is also how VeloFlux has always
 * keyed its users, so stored users keep matching.
 */
import { VelofluxError } from '../errors.js';

/** RFC 5321 §4.5.3.1.3 caps a path at 256 octets, so an address at 254. */
export const MAX_EMAIL_OCTETS = 254;
/** RFC 5321 §4.5.3.1.1. */
const MAX_LOCAL_OCTETS = 64;
const MAX_LABEL_LENGTH = 63;
export const MAX_NAME_LENGTH = 200;

const INVISIBLE = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Cn}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u;
/** RFC 5322 §3.2.3 atext, with any letter or digit (RFC 6532 §3.2), in dot-separated atoms. */
const LOCAL_PART = /^[\p{L}\p{M}\p{N}!#$%&'*+/=?^_`{|}~-]+(\.[\p{L}\p{M}\p{N}!#$%&'*+/=?^_`{|}~-]+)*$/u;
const DOMAIN_LABEL = /^[\p{L}\p{M}\p{N}]([\p{L}\p{M}\p{N}-]*[\p{L}\p{M}\p{N}])?$/u;
/** Markup has no business in a name; the dashboard escapes what it shows anyway (OWASP XSS Prevention). */
const MARKUP = /[<>]/;

/** The scripts told apart; a letter of any other script counts as "Other". */
const SCRIPTS = [
  'Latin', 'Greek', 'Cyrillic', 'Armenian', 'Hebrew', 'Arabic', 'Syriac', 'Thaana', 'Devanagari', 'Bengali', 'Gurmukhi', 'Gujarati', 'Oriya', 'Tamil', 'Telugu',
  'Kannada', 'Malayalam', 'Sinhala', 'Thai', 'Lao', 'Tibetan', 'Myanmar', 'Georgian', 'Hangul', 'Ethiopic', 'Khmer', 'Mongolian', 'Hiragana', 'Katakana', 'Bopomofo', 'Han',
] as const;
const SCRIPT_PATTERNS = SCRIPTS.map((script) => [script, new RegExp(`\\p{Script=${script}}`, 'u')] as const);
/** UTS #39 §5.2 highly restrictive: the only mixes allowed. */
const SCRIPT_MIXES: readonly ReadonlySet<string>[] = [new Set(['Latin', 'Han', 'Hiragana', 'Katakana']), new Set(['Latin', 'Han', 'Bopomofo']), new Set(['Latin', 'Han', 'Hangul'])];
const LETTER = /\p{L}/u;

/** The form emails are stored and looked up in: NFKC, trimmed, lower case. */
export function canonicalEmail(email: string): string {
  return email.normalize('NFKC').trim().toLowerCase().normalize('NFKC');
}

/** Every problem with an email already in canonical form; empty means acceptable. */
export function emailProblems(email: string): string[] {
  if (Buffer.byteLength(email) > MAX_EMAIL_OCTETS) return [`the email must be at most ${MAX_EMAIL_OCTETS} bytes`];
  if (INVISIBLE.test(email)) return ['the email must not contain control, format or invisible characters'];
  const at = email.lastIndexOf('@');
  const local = email.slice(0, at);
  const labels = email.slice(at + 1).split('.');
  if (at < 1 || !LOCAL_PART.test(local) || Buffer.byteLength(local) > MAX_LOCAL_OCTETS || labels.some((label) => label.length > MAX_LABEL_LENGTH || !DOMAIN_LABEL.test(label))) {
    return ['the email must look like name@domain, without spaces, quotes, <>, (), commas or semicolons'];
  }
  if (!singleScript(local) || !labels.every(singleScript)) return ['the email must not mix scripts (such as Latin and Cyrillic) within its name or within a label of its domain'];
  return [];
}

/** Every problem with a display name (of a user or tenant) already normalised; empty means acceptable. */
export function nameProblems(name: string, what = 'the name'): string[] {
  if (name.length === 0) return [`${what} must not be empty`];
  if (name.length > MAX_NAME_LENGTH) return [`${what} must be at most ${MAX_NAME_LENGTH} characters`];
  if (INVISIBLE.test(name)) return [`${what} must not contain control, format or invisible characters`];
  if (MARKUP.test(name)) return [`${what} must not contain < or >`];
  return [];
}

/** A display name NFKC-normalised and trimmed, or VF_ERR_VALIDATION saying what is wrong. */
export function displayName(name: string, what = 'the name'): string {
  const normalised = typeof name === 'string' ? name.normalize('NFKC').trim() : '';
  const problems = nameProblems(normalised, what);
  if (problems.length > 0) throw new VelofluxError('VF_ERR_VALIDATION', problems.join('; '));
  return normalised;
}

function singleScript(text: string): boolean {
  const scripts = new Set<string>();
  for (const char of text) if (LETTER.test(char)) scripts.add(scriptOf(char));
  return scripts.size <= 1 || SCRIPT_MIXES.some((allowed) => [...scripts].every((script) => allowed.has(script)));
}

function scriptOf(letter: string): string {
  for (const [script, pattern] of SCRIPT_PATTERNS) if (pattern.test(letter)) return script;
  return 'Other';
}
