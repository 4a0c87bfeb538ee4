/**
 * The request path the router matches and the backend receives, in its normal form (RFC 3986
 * §6.2.2): percent-encoded unreserved characters decoded (`/%61dmin` is `/admin`), other escapes
 * upper-cased, dot-segments removed (§5.2.4: `/a/../admin` is `/admin`, never above the root),
 * and runs of slashes merged (`//admin` is `/admin`, as nginx's merge_slashes does by default).
 * Without it a route guarding `/admin` could be walked around by spelling the same path
 * differently, while the backend (which normalises) serves it anyway; forwarding the normal form
 * means the router and the backend agree on what was asked (as Envoy's normalize_path does).
 *
 * Not decoded, so they cannot create or remove segments: `%2F` (/), `%5C` (\), and every other
 * reserved character. The query string is left exactly as sent. A malformed escape (`%zz`, a
 * lone `%`) or a raw backslash (not a URI character, RFC 3986 §2; some servers read it as `/`)
 * makes the request a 400: what it names cannot be known.
 *
 * The common case costs one scan: a path without `%`, `\` and without a `.` or `/` after a `/`
 * is already normal and returned as is.
 */

/** undefined: the path holds a malformed percent-escape or a backslash. */
export function normalizePath(target: string): string | undefined {
  if (isNormal(target)) return target;
  const queryAt = target.indexOf('?');
  const path = queryAt === -1 ? target : target.slice(0, queryAt);
  const decoded = decodeUnreserved(path);
  if (decoded === undefined) return undefined;
  const normal = removeDotSegments(decoded);
  return queryAt === -1 ? normal : normal + target.slice(queryAt);
}

/** Scans the path part only (up to a `?`), without copying it. */
function isNormal(target: string): boolean {
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 63 /* ? */) return true;
    if (c === 37 /* % */ || c === 92 /* \ */) return false;
    if (c === 47 /* / */) {
      const next = target.charCodeAt(i + 1);
      if (next === 46 /* . */ || next === 47) return false;
    }
  }
  return true;
}

const HEX = /^[0-9A-Fa-f]{2}$/;

function isUnreserved(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || (code >= 48 && code <= 57) || code === 45 || code === 46 || code === 95 || code === 126;
}

function decodeUnreserved(path: string): string | undefined {
  if (path.includes('\\')) return undefined;
  let out = '';
  let from = 0;
  for (let i = path.indexOf('%'); i !== -1; i = path.indexOf('%', i + 1)) {
    const hex = path.slice(i + 1, i + 3);
    if (!HEX.test(hex)) return undefined;
    const code = parseInt(hex, 16);
    out += path.slice(from, i) + (isUnreserved(code) ? String.fromCharCode(code) : `%${hex.toUpperCase()}`);
    from = i + 3;
    i += 2;
  }
  return out + path.slice(from);
}

/**
 * RFC 3986 §5.2.4 on an absolute path: `.` segments dropped, `..` removes the one before (never
 * the root); empty segments (`//`) dropped too, except a trailing slash.
 */
function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    if (segment === '') {
      if (last) out.push('');
    } else if (segment === '.') {
      if (last) out.push('');
    } else if (segment === '..') {
      out.pop();
      if (last) out.push('');
    } else {
      out.push(segment);
    }
  }
  return `/${out.join('/')}`;
}

/**
 * The path routes are matched on: the normal target without path parameters (`;x` at the end of
 * a segment, RFC 3986 §3.3), dot-segments resolved after removing them. Servlet containers and
 * others serve `/limited;x/a` and `/a/..;x/limited/a` as `/limited/a`, so a route's rules (rate
 * limit, redirect, security) must apply to that path. The backend still receives the target as
 * sent (in normal form), parameters included. The same string when there is no `;` in the path.
 */
export function routingPath(normalTarget: string): string {
  const semicolon = normalTarget.indexOf(';');
  if (semicolon === -1) return normalTarget;
  const queryAt = normalTarget.indexOf('?');
  if (queryAt !== -1 && queryAt < semicolon) return normalTarget;
  const path = queryAt === -1 ? normalTarget : normalTarget.slice(0, queryAt);
  const bare = path
    .split('/')
    .map((segment) => {
      const at = segment.indexOf(';');
      return at === -1 ? segment : segment.slice(0, at);
    })
    .join('/');
  return removeDotSegments(bare);
}
