/**
 * Runs a corpus case (test/fixtures/security/*.yaml) through the same steps as the data plane:
 * the path in its normal form (path-normalization.ts; a target it refuses never reaches the
 * filter), the head through the rule engine, then the body fields up to inspectBodyBytes.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { normalizePath } from '../../../src/workers/proxy/path-normalization.js';
import { bodyFormatOf, parseContentType } from '../../../src/workers/security/content-type.js';
import { inspectBody } from '../../../src/workers/security/body-fields.js';
import type { RuleEngine } from '../../../src/workers/security/rule-engine.js';
import type { CleanHeaders } from '../../../src/workers/security/clean-headers.js';

export interface WireCase {
  id: string;
  category: string;
  note?: string;
  method: string;
  target: string;
  headers?: Record<string, string | null>;
  body?: string;
}

export function loadCorpus(name: 'attacks' | 'benign'): WireCase[] {
  return parse(readFileSync(new URL(`../../fixtures/security/${name}.yaml`, import.meta.url), 'utf8')) as WireCase[];
}

/** What a browser sends besides what the case sets (a case removes one with null). */
const DEFAULT_HEADERS: Record<string, string> = {
  Host: 'shop.example.com',
  'User-Agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'Accept-Language': 'en-US,en;q=0.9',
  'Accept-Encoding': 'gzip, deflate, br',
};

export function rawHeadersOf(c: WireCase): string[] {
  const merged: Record<string, string | null> = { ...DEFAULT_HEADERS, ...c.headers };
  if (c.body !== undefined && merged['Content-Length'] === undefined) merged['Content-Length'] = String(Buffer.byteLength(c.body));
  const raw: string[] = [];
  for (const [name, value] of Object.entries(merged)) if (value !== null) raw.push(name, value);
  return raw;
}

export interface Verdict {
  /** The data plane answers 400 before the filter (a malformed target). */
  refusedByDataPlane: boolean;
  score: number;
  rules: number[];
  categories: string[];
}

/** `clean`: the connection's cache of clean header values (the data plane keeps one per keep-alive connection). */
export function evaluate(engine: RuleEngine, c: WireCase, inspectBodyBytes = 64 * 1024, clean?: CleanHeaders): Verdict {
  const normal = normalizePath(c.target);
  if (normal === undefined) return { refusedByDataPlane: true, score: 0, rules: [], categories: [] };
  const tx = engine.transaction();
  const raw = rawHeadersOf(c);
  engine.inspectHead(tx, c.method, normal, raw, c.body !== undefined && c.body !== '', clean);
  const contentType = c.headers?.['Content-Type'];
  if (c.body !== undefined && contentType !== undefined && contentType !== null) {
    const type = parseContentType(contentType);
    const format = type === undefined ? undefined : bodyFormatOf(type);
    if (format !== undefined) inspectBody(engine, tx, format, type!.boundary, Buffer.from(c.body).subarray(0, inspectBodyBytes).toString('utf8'));
  }
  return { refusedByDataPlane: false, score: tx.score, rules: tx.matches.map((m) => m.ruleId), categories: tx.categoryNames() };
}
