/** A request body's fields for the rule engine, by format (content-type.ts decides which). */
import type { BodyFormat } from './content-type.js';
import { inspectJson } from './json-fields.js';
import { inspectMultipart } from './multipart-fields.js';
import type { RuleEngine } from './rule-engine.js';
import { TARGET } from './targets.js';
import type { SecurityTransaction } from './transaction.js';

export function inspectBody(engine: RuleEngine, tx: SecurityTransaction, format: BodyFormat, boundary: string | undefined, text: string): void {
  if (format === 'urlencoded') engine.inspectPairs(tx, text, 0, TARGET.body, 'body');
  else if (format === 'json') inspectJson(engine, tx, text);
  else inspectMultipart(engine, tx, text, boundary!);
}
