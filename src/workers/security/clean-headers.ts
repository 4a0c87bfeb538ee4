/**
 * Header values one keep-alive connection already sent and the rule engine found clean (no rule
 * matched, before exclusions), so the next request on the connection skips them: a browser sends
 * the same User-Agent, Cookie, Referer... on every request, and inspecting them is most of what
 * the filter costs on an ordinary GET (issue 17's budget: at most 15% more CPU per request).
 *
 * A value's verdict depends only on the header's name, its value and the route's engine (the
 * cache lives per route, in its SecurityStage), so a clean value stays clean. Bounded: a few
 * names, and only values up to MAX_CACHED_CHARS in all, so a connection costs little memory.
 */
const MAX_NAMES = 12;
const MAX_CACHED_CHARS = 8192;

export class CleanHeaders {
  readonly #names: string[] = [];
  readonly #values: string[] = [];
  #chars = 0;

  has(name: string, value: string): boolean {
    const names = this.#names;
    for (let i = 0; i < names.length; i++) if (names[i] === name) return this.#values[i] === value;
    return false;
  }

  add(name: string, value: string): void {
    const names = this.#names;
    for (let i = 0; i < names.length; i++) {
      if (names[i] !== name) continue;
      const grown = this.#chars - this.#values[i]!.length + value.length;
      if (grown > MAX_CACHED_CHARS) return;
      this.#chars = grown;
      this.#values[i] = value;
      return;
    }
    if (names.length === MAX_NAMES || this.#chars + value.length > MAX_CACHED_CHARS) return;
    names.push(name);
    this.#values.push(value);
    this.#chars += value.length;
  }
}
