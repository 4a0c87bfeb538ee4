/**
 * Rule exclusions, the way an operator fixes a false positive without turning a category off
 * (CRS's ctl:ruleRemoveById / ruleRemoveTargetById): by rule id or category, optionally only
 * under some path prefixes and only for some inputs. Inputs are named `[source:]name`: `q`
 * (any query or body field, cookie or header called q), `query:q`, `body:post.content` (a JSON
 * key path), `cookie:sid`, `header:referer`. Everything is compared as plain strings, lower
 * case: no user-supplied pattern ever runs on a request.
 *
 * An exclusion with neither paths nor parameters removes its rules from the route altogether
 * (they are then not even tested); the others are checked only when a rule has matched.
 */
import { SECURITY_RULES, type SecurityCategory } from '../../shared/security-catalogue.js';
import type { SecurityExclusionConfig } from '../../shared/config/schema.js';

interface ScopedExclusion {
  readonly rules: ReadonlySet<number>;
  readonly paths: readonly string[] | undefined;
  /** `source:name` and bare `name` entries. */
  readonly parameters: ReadonlySet<string> | undefined;
}

export class Exclusions {
  /** Rules removed from the route everywhere. */
  readonly removed: ReadonlySet<number>;
  readonly #scoped: readonly ScopedExclusion[];

  constructor(exclusions: readonly SecurityExclusionConfig[]) {
    const removed = new Set<number>();
    const scoped: ScopedExclusion[] = [];
    for (const exclusion of exclusions) {
      const rules = ruleIdsOf(exclusion.rules);
      if (exclusion.paths === undefined && exclusion.parameters === undefined) {
        for (const id of rules) removed.add(id);
        continue;
      }
      scoped.push({
        rules,
        paths: exclusion.paths,
        parameters: exclusion.parameters === undefined ? undefined : new Set(exclusion.parameters.map((p) => p.toLowerCase())),
      });
    }
    this.removed = removed;
    this.#scoped = scoped;
  }

  get empty(): boolean {
    return this.#scoped.length === 0;
  }

  /** Whether a match of `ruleId` on input `source:name` under `path` is excluded. */
  excludes(ruleId: number, path: string, source: string, name: string): boolean {
    for (const exclusion of this.#scoped) {
      if (!exclusion.rules.has(ruleId)) continue;
      if (exclusion.paths !== undefined && !exclusion.paths.some((prefix) => path.startsWith(prefix))) continue;
      if (exclusion.parameters !== undefined && !(exclusion.parameters.has(name) || exclusion.parameters.has(`${source}:${name}`))) continue;
      return true;
    }
    return false;
  }
}

/** Rule ids named directly or through their category; every rule when none is named. */
function ruleIdsOf(entries: readonly (number | SecurityCategory)[] | undefined): Set<number> {
  if (entries === undefined) return new Set(SECURITY_RULES.map((r) => r.id));
  const ids = new Set<number>();
  for (const entry of entries) {
    if (typeof entry === 'number') ids.add(entry);
    else for (const rule of SECURITY_RULES) if (rule.category === entry) ids.add(rule.id);
  }
  return ids;
}
