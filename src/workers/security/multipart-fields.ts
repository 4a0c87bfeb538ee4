/**
 * The form fields of a multipart/form-data body (RFC 7578) for the rule engine: each part's
 * field name, and its value when it is a field; for a file only its file name (its content is
 * the application's to judge, as CRS inspects FILES names, not contents). Read from the text up
 * to inspectBodyBytes: a part cut there is inspected as far as it goes.
 */
import type { RuleEngine } from './rule-engine.js';
import { TARGET } from './targets.js';
import type { SecurityTransaction } from './transaction.js';

const NAME = /\bname\s*=\s*(?:"([^"]{0,1024})"|([^;\s]{1,1024}))/i;
const FILENAME = /\bfilename\s*=\s*(?:"([^"]{0,1024})"|([^;\s]{1,1024}))/i;

export function inspectMultipart(engine: RuleEngine, tx: SecurityTransaction, text: string, boundary: string): void {
  const delimiter = `--${boundary}`;
  let at = text.indexOf(delimiter);
  while (at !== -1) {
    let start = at + delimiter.length;
    if (text.startsWith('--', start)) return; // the close delimiter
    start = skipLineEnd(text, start);
    const next = text.indexOf(`\n${delimiter}`, start);
    const end = next === -1 ? text.length : next;
    inspectPart(engine, tx, text.slice(start, end));
    at = next === -1 ? -1 : next + 1;
  }
}

function skipLineEnd(text: string, at: number): number {
  if (text.charCodeAt(at) === 13) at++;
  if (text.charCodeAt(at) === 10) at++;
  return at;
}

function inspectPart(engine: RuleEngine, tx: SecurityTransaction, part: string): void {
  let split = part.indexOf('\r\n\r\n');
  let gap = 4;
  if (split === -1) {
    split = part.indexOf('\n\n');
    gap = 2;
  }
  const head = split === -1 ? part : part.slice(0, split);
  let body = split === -1 ? '' : part.slice(split + gap);
  if (body.endsWith('\r')) body = body.slice(0, -1);
  let disposition = '';
  for (const line of head.split('\n')) {
    if (line.slice(0, 20).toLowerCase().startsWith('content-disposition')) disposition = line;
  }
  const nameMatch = NAME.exec(disposition.replace(FILENAME, ''));
  const name = nameMatch === null ? '' : (nameMatch[1] ?? nameMatch[2] ?? '');
  const fileMatch = FILENAME.exec(disposition);
  if (fileMatch !== null) {
    engine.inspectField(tx, TARGET.body, 'body', name, fileMatch[1] ?? fileMatch[2] ?? '', false);
    return;
  }
  engine.inspectField(tx, TARGET.body, 'body', name, body, false);
}
