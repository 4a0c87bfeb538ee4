/**
 * The built dashboard (dist/dashboard, from `npm run build:dashboard`) held in memory: a few
 * hundred KB read once at start, so serving never touches the file system and no request path can
 * reach a file outside the build (there is nothing to traverse: lookups are map hits).
 *
 * What a path answers, as a single-page app served by nginx `try_files $uri /index.html` would,
 * except that a path that looks like a file (its last segment has a dot) and is not one gets 404:
 * a missing script must fail loudly, not come back as HTML with status 200.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface StaticFile {
  readonly body: Buffer;
  /** Present when compressing pays (text types above 1 KB). */
  readonly gzip: Buffer | undefined;
  readonly contentType: string;
  readonly etag: string;
  readonly cacheControl: string;
}

export type StaticLookup = { kind: 'file'; file: StaticFile } | { kind: 'missing' };

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Vite puts content-hashed names under assets/: a changed file gets a new name, so a year is safe (RFC 8246 immutable). */
const HASHED = 'public, max-age=31536000, immutable';
/** Everything else (index.html above all) is revalidated on every load, so a new build shows at once. */
const REVALIDATE = 'no-cache';

export class StaticSite {
  readonly #files: ReadonlyMap<string, StaticFile>;
  readonly #index: StaticFile | undefined;

  private constructor(files: ReadonlyMap<string, StaticFile>) {
    this.#files = files;
    this.#index = files.get('/index.html');
  }

  /** Reads the build at `root`; an absent build gives an empty site whose every page says how to build it. */
  static load(root: string): StaticSite {
    const files = new Map<string, StaticFile>();
    if (existsSync(root)) for (const path of walk(root)) files.set('/' + relative(root, path).split(sep).join('/'), toStaticFile(path, root));
    return new StaticSite(files);
  }

  get built(): boolean {
    return this.#index !== undefined;
  }

  /** `pathname` already percent-decoded. */
  lookup(pathname: string): StaticLookup {
    const file = this.#files.get(pathname === '/' ? '/index.html' : pathname);
    if (file !== undefined) return { kind: 'file', file };
    const lastSegment = pathname.slice(pathname.lastIndexOf('/') + 1);
    if (lastSegment.includes('.') || this.#index === undefined) return { kind: 'missing' };
    return { kind: 'file', file: this.#index };
  }
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield path;
  }
}

function toStaticFile(path: string, root: string): StaticFile {
  const body = readFileSync(path);
  const contentType = CONTENT_TYPES[extname(path)] ?? 'application/octet-stream';
  const compressible = /^(text\/|application\/json|image\/svg)/.test(contentType) && body.length > 1024;
  return {
    body,
    gzip: compressible ? gzipSync(body, { level: 9 }) : undefined,
    contentType,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    cacheControl: relative(root, path).startsWith('assets' + sep) ? HASHED : REVALIDATE,
  };
}
