/**
 * The fields of a JSON body for the rule engine: every key as a name (its dotted path from the
 * root, `user.profile.__proto__`, array levels adding nothing) and every string as a value under
 * that path. A tolerant tokenizer rather than JSON.parse: the body may be cut at
 * inspectBodyBytes, and what was read up to there is still inspected; invalid JSON is read as
 * far as it goes. Numbers, booleans and null carry no attack and are skipped.
 */
import type { RuleEngine } from './rule-engine.js';
import { TARGET } from './targets.js';
import type { SecurityTransaction } from './transaction.js';

/** Deeper levels are still scanned, under the path of this depth. */
const MAX_PATH_DEPTH = 32;

interface Frame {
  readonly object: boolean;
  key: string;
}

export function inspectJson(engine: RuleEngine, tx: SecurityTransaction, text: string): void {
  const first = text.trimStart().charCodeAt(0);
  if (first !== 123 /* { */ && first !== 91 /* [ */ && first !== 34 /* " */) {
    // Not JSON at all: the backend will reject it, but it is inspected whole all the same.
    engine.inspectField(tx, TARGET.body, 'body', 'body', text, false, true);
    return;
  }
  const stack: Frame[] = [];
  let expectKey = false;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 123 /* { */) {
      stack.push({ object: true, key: '' });
      expectKey = true;
      i++;
    } else if (c === 91 /* [ */) {
      stack.push({ object: false, key: '' });
      expectKey = false;
      i++;
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      stack.pop();
      expectKey = false;
      i++;
    } else if (c === 44 /* , */) {
      expectKey = stack.length > 0 && stack[stack.length - 1]!.object;
      i++;
    } else if (c === 58 /* : */) {
      expectKey = false;
      i++;
    } else if (c === 34 /* " */) {
      const end = stringEnd(text, i + 1);
      const value = unescape(text.slice(i + 1, end));
      i = end + 1;
      const top = stack[stack.length - 1];
      if (expectKey && top !== undefined && top.object) {
        top.key = value;
        engine.inspectField(tx, TARGET.body, 'body', pathOf(stack), '', false);
      } else {
        engine.inspectField(tx, TARGET.body, 'body', pathOf(stack), value, false, true);
      }
    } else {
      i++;
    }
  }
}

/** Index of the closing quote (or the end of the text when the body was cut inside the string). */
function stringEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 92 /* \ */) i++;
    else if (c === 34) return i;
  }
  return text.length;
}

const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

function unescape(raw: string): string {
  if (!raw.includes('\\')) return raw;
  return raw.replace(/\\(?:u([0-9a-fA-F]{4})|(.))/g, (_m, hex: string | undefined, ch: string | undefined) =>
    hex !== undefined ? String.fromCharCode(parseInt(hex, 16)) : (ESCAPES[ch!] ?? ch!),
  );
}

function pathOf(stack: readonly Frame[]): string {
  let path = '';
  const depth = Math.min(stack.length, MAX_PATH_DEPTH);
  for (let i = 0; i < depth; i++) {
    const frame = stack[i]!;
    if (!frame.object || frame.key === '') continue;
    path = path === '' ? frame.key : `${path}.${frame.key}`;
  }
  return path;
}
