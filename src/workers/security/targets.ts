/**
 * Where a value comes from, as bits: a rule names the places it inspects (as CRS names ARGS,
 * REQUEST_COOKIES, REQUEST_HEADERS...), so a path probe is not looked for in a cookie and a
 * scanner's User-Agent is not looked for in a query value.
 */
export const TARGET = {
  path: 1,
  query: 2,
  /** Names of query parameters, form fields, JSON keys (as a dotted path) and cookies. */
  name: 4,
  header: 8,
  cookie: 16,
  body: 32,
  /** The User-Agent header (a header too). */
  userAgent: 64,
} as const;

export const ARGS = TARGET.query | TARGET.body;
export const VALUES = ARGS | TARGET.cookie | TARGET.header;

/** How events and exclusions name a target (`query:q`, `body:post.content`, `cookie:session`). */
export function targetName(target: number): string {
  if (target & TARGET.name) return 'name';
  if (target & TARGET.path) return 'path';
  if (target & TARGET.query) return 'query';
  if (target & TARGET.body) return 'body';
  if (target & TARGET.cookie) return 'cookie';
  return 'header';
}
