/**
 * One request's inspection: its anomaly score, which rules matched (each counts once, as a CRS
 * rule adds its score once per transaction), the categories they belong to, and the first few
 * matches for the event (rule, where, a short redacted snippet). The scratch space normalisation
 * writes into lives here too, so inspecting a value allocates nothing of its own.
 */
import { SECURITY_CATEGORIES, type SecurityCategory } from '../../shared/security-catalogue.js';
import type { RuleMatch } from '../../shared/security-events.js';
import { NormalizedInput } from './normalize.js';

export type { RuleMatch };

/** Matches kept for the event: the rest only add to the score. */
const MAX_MATCHES = 8;
const SNIPPET_CHARS = 48;

export class SecurityTransaction {
  score = 0;
  /**
   * Rules a value can raise that matched, before exclusions: 0 means every value so far was clean
   * and no rule is marked seen that a later value could match (clean-headers.ts).
   */
  hits = 0;
  /** SECURITY_CATEGORIES indices as bits. */
  categories = 0;
  readonly matches: RuleMatch[] = [];
  /** The request path (no query), for path-scoped exclusions. */
  path = '/';
  readonly input = new NormalizedInput();
  /** By rule index (rule-engine.ts): already matched. */
  readonly #seen: Uint8Array;

  constructor(ruleCount: number) {
    this.#seen = new Uint8Array(ruleCount);
  }

  seen(index: number): boolean {
    return this.#seen[index] === 1;
  }

  add(index: number, ruleId: number, categoryIndex: number, score: number, variable: string, snippet: string): void {
    this.#seen[index] = 1;
    this.score += score;
    this.categories |= 1 << categoryIndex;
    if (this.matches.length < MAX_MATCHES) this.matches.push({ ruleId, category: SECURITY_CATEGORIES[categoryIndex]!, variable, snippet: redact(snippet) });
  }

  /** Ready for another request (the head-only path reuses one transaction per route). */
  reset(path: string): void {
    this.score = 0;
    this.hits = 0;
    this.categories = 0;
    this.matches.length = 0;
    this.path = path;
    this.#seen.fill(0);
  }

  categoryNames(): SecurityCategory[] {
    return SECURITY_CATEGORIES.filter((_c, i) => (this.categories & (1 << i)) !== 0);
  }
}

function redact(value: string): string {
  const cut = value.length > SNIPPET_CHARS ? `${value.slice(0, SNIPPET_CHARS)}…` : value;
  // Control characters would break log lines and terminals that show events.
  return cut.replace(/[\u0000-\u001f\u007f]/g, ' ');
}
