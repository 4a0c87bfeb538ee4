/**
 * The security filter's rule engine (issue 17), compiled once per route and snapshot: the
 * catalogue's rules minus the ones the route's exclusions remove, its threshold and allowed
 * methods. It inspects a request's head (method, path in the data plane's normal form, query
 * names and values, headers, cookies) and body fields handed to it by the body inspector, adding
 * each matching rule's score (critical 5, error 4, warning 3, notice 2) to the transaction; the
 * request is an attack when the total reaches the threshold (anomaly scoring, as CRS: one weak
 * signal alone does not block).
 *
 * The engine keeps no state per request: what a request accumulates is its SecurityTransaction.
 */
import { SECURITY_CATEGORIES, SECURITY_RULES, SEVERITY_SCORES, type SecurityRule } from '../../shared/security-catalogue.js';
import type { SecurityExclusionConfig } from '../../shared/config/schema.js';
import { ALLOWED_CHARSETS, parseContentType } from './content-type.js';
import { Exclusions } from './exclusions.js';
import { MATCHERS, type Matcher } from './matchers.js';
import { INPUT_FLAGS, normalizeInto } from './normalize.js';
import { ARGS, TARGET } from './targets.js';
import { SecurityTransaction } from './transaction.js';
import type { CleanHeaders } from './clean-headers.js';

export interface RuleEngineOptions {
  readonly threshold: number;
  readonly exclusions: readonly SecurityExclusionConfig[];
  readonly allowedMethods: readonly string[];
}

interface CompiledRule {
  readonly index: number;
  readonly id: number;
  readonly categoryIndex: number;
  readonly score: number;
  readonly targets: number;
  readonly needs: number;
  readonly test: Matcher['test'];
  /** Raised only by the head checks (method, Host, missing headers, Content-Type), never by a value. */
  readonly headOnly: boolean;
}

/**
 * Rules no header, query or body value can raise: their match says nothing about a value, so it
 * does not stop clean values from being cached (clean-headers.ts). A numeric Host (920350) is
 * common behind L4 balancers and in tests, and would otherwise turn the cache off for them.
 */
const HEAD_ONLY_RULES: ReadonlySet<number> = new Set([920100, 920170, 920280, 920320, 920340, 920350, 920420, 920450]);

/** Headers whose values are structured, secret or set by browsers and proxies: only the protocol rules look at them. */
const UNINSPECTED_HEADERS: ReadonlySet<string> = new Set([
  'accept', 'accept-encoding', 'accept-language', 'authorization', 'proxy-authorization', 'cache-control', 'connection',
  'content-length', 'content-type', 'host', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since',
  'if-range', 'range', 'pragma', 'te', 'upgrade', 'upgrade-insecure-requests', 'dnt', 'priority', 'x-forwarded-for',
  'x-forwarded-proto', 'x-forwarded-port', 'x-request-id', 'x-correlation-id', 'traceparent', 'tracestate', 'baggage',
  'via', 'x-api-key', 'x-csrf-token', 'x-xsrf-token', 'transfer-encoding', 'expect', 'keep-alive', 'content-encoding',
  'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol', 'x-amzn-trace-id',
]);

/** Headers only security scanners send (CRS 913110). */
const SCANNER_HEADERS: ReadonlySet<string> = new Set(['acunetix-product', 'acunetix-scanning-agreement', 'acunetix-user-agreement', 'x-scanner', 'x-wipp', 'x-request-memo', 'x-ratproxy-loop', 'bypass-tunnel-reminder']);

const NUMERIC_HOST = /^(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$/;

const SCORES = SEVERITY_SCORES;

export class RuleEngine {
  readonly threshold: number;
  /** Rules still tested on values (request-level ones are raised by the head checks). */
  readonly #rules: readonly CompiledRule[];
  readonly #byId: ReadonlyMap<number, CompiledRule>;
  readonly #exclusions: Exclusions;
  readonly #allowedMethods: ReadonlySet<string>;

  constructor(options: RuleEngineOptions) {
    this.threshold = options.threshold;
    this.#exclusions = new Exclusions(options.exclusions);
    this.#allowedMethods = new Set(options.allowedMethods.map((m) => m.toUpperCase()));
    const compiled = (SECURITY_RULES as readonly SecurityRule[]).map((rule, index): CompiledRule => {
      const matcher: Matcher = MATCHERS[rule.id as keyof typeof MATCHERS];
      return { index, id: rule.id, categoryIndex: SECURITY_CATEGORIES.indexOf(rule.category), score: SCORES[rule.severity], targets: matcher.targets, needs: matcher.needs, test: matcher.test, headOnly: HEAD_ONLY_RULES.has(rule.id) };
    });
    const removed = this.#exclusions.removed;
    this.#byId = new Map(compiled.filter((r) => !removed.has(r.id)).map((r) => [r.id, r]));
    this.#rules = compiled.filter((r) => r.targets !== 0 && !removed.has(r.id));
  }

  /** A transaction sized for this engine's rules. */
  transaction(): SecurityTransaction {
    return new SecurityTransaction(SECURITY_RULES.length);
  }

  /**
   * The request head. `target` is the data plane's normal form of the request target (path and
   * query as forwarded); `hasBody`: a Content-Length above 0 or a chunked body. `clean`: the
   * header values this connection sent before and that were clean, skipped; clean ones are added.
   */
  inspectHead(tx: SecurityTransaction, method: string, target: string, rawHeaders: readonly string[], hasBody: boolean, clean?: CleanHeaders): void {
    const queryAt = target.indexOf('?');
    tx.reset(queryAt === -1 ? target : target.slice(0, queryAt));
    if (!this.#allowedMethods.has(method)) this.#raise(tx, 920100, 'request', 'method', method);

    normalizeInto(tx.input, tx.path, false);
    this.#match(tx, TARGET.path, 'path', '');
    if (queryAt !== -1) this.inspectPairs(tx, target, queryAt + 1, TARGET.query, 'query');

    let host = false;
    let userAgent = false;
    let contentType: string | undefined;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toLowerCase();
      const value = rawHeaders[i + 1]!;
      switch (name) {
        case 'host':
          host = value !== '';
          if (NUMERIC_HOST.test(value)) this.#raise(tx, 920350, 'header', 'host', value);
          break;
        case 'user-agent':
          userAgent = value.trim() !== '';
          if (clean !== undefined && clean.has(name, value)) break;
          normalizeInto(tx.input, value, false);
          this.#match(tx, TARGET.header | TARGET.userAgent, 'header', 'user-agent');
          if (clean !== undefined && tx.hits === 0) clean.add(name, value);
          break;
        case 'cookie':
          if (clean !== undefined && clean.has(name, value)) break;
          this.#inspectCookies(tx, value);
          if (clean !== undefined && tx.hits === 0) clean.add(name, value);
          break;
        case 'content-type':
          contentType = value;
          break;
        case 'proxy':
          // httpoxy (CVE-2016-5385): CGI turns it into HTTP_PROXY, which libraries then use.
          this.#raise(tx, 920450, 'header', name, value);
          break;
        default:
          if (SCANNER_HEADERS.has(name)) this.#raise(tx, 913110, 'header', name, value);
          else if (!UNINSPECTED_HEADERS.has(name) && !name.startsWith('sec-') && (clean === undefined || !clean.has(name, value))) {
            normalizeInto(tx.input, value, false);
            this.#match(tx, TARGET.header, 'header', name);
            if (clean !== undefined && tx.hits === 0) clean.add(name, value);
          }
      }
    }
    if (!host) this.#raise(tx, 920280, 'header', 'host', '');
    if (!userAgent) this.#raise(tx, 920320, 'header', 'user-agent', '');
    if (hasBody) {
      if (method === 'GET' || method === 'HEAD') this.#raise(tx, 920170, 'request', 'body', '');
      if (contentType === undefined) this.#raise(tx, 920340, 'header', 'content-type', '');
    }
    if (contentType !== undefined) {
      const parsed = parseContentType(contentType);
      if (parsed === undefined || (parsed.charset !== undefined && !ALLOWED_CHARSETS.has(parsed.charset))) this.#raise(tx, 920420, 'header', 'content-type', contentType);
    }
  }

  /** `name=value&...` pairs of `text` from `from` (a query string or a urlencoded body). */
  inspectPairs(tx: SecurityTransaction, text: string, from: number, target: number, source: string): void {
    while (from < text.length) {
      let end = text.indexOf('&', from);
      if (end === -1) end = text.length;
      if (end > from) {
        const eq = text.indexOf('=', from);
        if (eq === -1 || eq > end) this.inspectField(tx, target, source, text.slice(from, end), '', true);
        else this.inspectField(tx, target, source, text.slice(from, eq), text.slice(eq + 1, end), true);
      }
      from = end + 1;
    }
  }

  /**
   * One named value: its name is inspected as a name (unless `nameSeen`: a JSON key already
   * inspected when it was read), then its value under `target`.
   */
  inspectField(tx: SecurityTransaction, target: number, source: string, rawName: string, rawValue: string, plusIsSpace: boolean, nameSeen = false): void {
    normalizeInto(tx.input, rawName, plusIsSpace);
    const name = tx.input.value;
    if (name !== '' && !nameSeen) this.#match(tx, TARGET.name, source, name);
    if (rawValue === '') return;
    normalizeInto(tx.input, rawValue, plusIsSpace);
    this.#match(tx, target, source, name);
  }

  /** Whether the transaction's score reached the threshold. */
  isAttack(tx: SecurityTransaction): boolean {
    return tx.score >= this.threshold;
  }

  #inspectCookies(tx: SecurityTransaction, header: string): void {
    let from = 0;
    while (from < header.length) {
      let end = header.indexOf(';', from);
      if (end === -1) end = header.length;
      const eq = header.indexOf('=', from);
      if (eq !== -1 && eq < end) this.inspectField(tx, TARGET.cookie, 'cookie', header.slice(from, eq).trim(), header.slice(eq + 1, end).trim(), false);
      from = end + 1;
    }
  }

  /** Runs the value rules on `tx.input` (already normalised). */
  #match(tx: SecurityTransaction, target: number, source: string, name: string): void {
    const { value, flags, chars } = tx.input;
    if (flags !== 0) this.#flags(tx, target, source, name, value, flags);
    const rules = this.#rules;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      if ((rule.targets & target) === 0 || (rule.needs !== 0 && (rule.needs & chars) === 0) || tx.seen(rule.index)) continue;
      if (rule.test(value, name, target)) this.#hit(tx, rule, source, name, value);
    }
  }

  /** Rules raised by what normalisation saw rather than by a pattern. */
  #flags(tx: SecurityTransaction, target: number, source: string, name: string, value: string, flags: number): void {
    if (flags & INPUT_FLAGS.nullByte) this.#raise(tx, 920270, source, name, value);
    if (flags & INPUT_FLAGS.badEscape && target & ARGS && tx.input.urlencoded) this.#raise(tx, 920220, source, name, value);
    if (flags & INPUT_FLAGS.unicodeEscape) this.#raise(tx, 920260, source, name, value);
    // Multi-line text in a form ("Note:\nLocation: ...") is ordinary; a header line in a query or header value is not.
    if (flags & INPUT_FLAGS.crlfHeader && (target & TARGET.body) === 0) this.#raise(tx, 921130, source, name, value);
    if (flags & INPUT_FLAGS.encodedSlash && value.includes('..')) this.#raise(tx, 930100, source, name, value);
  }

  #raise(tx: SecurityTransaction, id: number, source: string, name: string, value: string): void {
    const rule = this.#byId.get(id);
    if (rule !== undefined && !tx.seen(rule.index)) this.#hit(tx, rule, source, name, value);
  }

  #hit(tx: SecurityTransaction, rule: CompiledRule, source: string, name: string, value: string): void {
    if (!rule.headOnly) tx.hits++;
    if (!this.#exclusions.empty && this.#exclusions.excludes(rule.id, tx.path, source, name)) return;
    const variable = name === '' ? source : `${source}:${name}`;
    tx.add(rule.index, rule.id, rule.categoryIndex, rule.score, variable, source === 'cookie' ? '' : value);
  }
}
