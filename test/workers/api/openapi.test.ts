/**
 * The OpenAPI document validates and lists every route. The main API is built in-process with its
 * real dependencies (an embedded state store in a temp dir, a feed relay, an RPC to a primary that
 * never answers, a validated default config); `app.swagger()` is checked with a real OpenAPI 3.0
 * validator, and every route fastify serves must appear in it with its method, and nothing more.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { pino } from 'pino';
import { validateConfig } from '../../../src/shared/config/load.js';
import { EmbeddedStateStore } from '../../../src/shared/state/embedded-store.js';
import { createApiServer } from '../../../src/workers/api/api-server.js';
import { FeedRelay } from '../../../src/workers/api/feed-relay.js';
import { BillingRelay } from '../../../src/workers/api/billing-relay.js';
import { PrimaryRpc } from '../../../src/workers/primary-link/primary-rpc.js';

type OpenApiDocument = { openapi: string; paths: Record<string, Record<string, unknown>> };

/** Served only to fetch the document itself (`schema.hide`), so it is not in it. */
const UNDOCUMENTED = new Set(['GET /api/openapi.json']);
/** Operation keys of an OpenAPI Path Item (3.0.3 §4.7.9). */
const OPERATIONS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

const dataDir = mkdtempSync(join(tmpdir(), 'veloflux-openapi-'));
t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
const config = validateConfig({ server: { dataDir } }, 'openapi.test', {});
const state = await EmbeddedStateStore.open(dataDir, 'openapi-test');
const api = await createApiServer({
  config: () => config,
  secrets: { jwtSecret: 'openapi-test-secret-0123456789abcdef0123456789ab' },
  state,
  rpc: new PrimaryRpc(() => {}),
  feed: new FeedRelay(),
  billing: new BillingRelay(),
  log: pino({ level: 'silent' }),
});
t.teardown(() => {
  api.close();
  return api.app.close();
});
const document = api.app.swagger() as unknown as OpenApiDocument;

/**
 * Every `METHOD /path` fastify routes, from printRoutes' tree: each line is a node whose path is
 * its parent's plus its own segment, with the methods it answers in parentheses. HEAD is left out:
 * fastify adds it to every GET by itself (exposeHeadRoutes) and OpenAPI documents it through GET.
 */
function servedRoutes(tree: string): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const node = /^((?:[│ ]   )*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?$/u.exec(line);
    if (node === null) {
      if (line.trim() !== '') throw new Error(`cannot read printRoutes line ${JSON.stringify(line)}`);
      continue;
    }
    const depth = node[1]!.length / 4;
    stack.length = depth;
    const path = (stack[depth - 1] ?? '') + node[2]!;
    stack.push(path);
    for (const method of node[3]?.split(', ') ?? []) if (method !== 'HEAD') routes.push(`${method} ${path}`);
  }
  return routes;
}

/** OpenAPI's `/api/tenants/{id}` is fastify's `/api/tenants/:id`. */
const toFastifyPath = (path: string) => path.replace(/\{([^}]+)\}/g, ':$1');

t.test('the document is a valid OpenAPI 3.0 document', async (t) => {
  t.match(document.openapi, /^3\.0\.\d+$/, `declares OpenAPI ${document.openapi}`);
  // validate() dereferences in place, so it gets a copy; it throws listing every violation.
  const validated = await SwaggerParser.validate(structuredClone(document) as never).then(
    () => undefined,
    (err: Error) => err.message,
  );
  t.equal(validated, undefined, 'passes the OpenAPI 3.0 schema');

  // The validator is not vacuous: the same document with one response lacking its required
  // description (OpenAPI 3.0.3 §4.7.17) is refused.
  const broken = structuredClone(document) as { paths: Record<string, Record<string, { responses: Record<string, { description?: string }> }>> };
  delete broken.paths['/api/auth/login']!.post!.responses['200']!.description;
  const refusal = await SwaggerParser.validate(broken as never).then(
    () => 'accepted',
    (err: Error) => err.message,
  );
  t.match(refusal, /api~1auth~1login\/post\/responses\/200 must have required property 'description'/, 'a broken copy is refused, naming where');
});

t.test('every route fastify serves is in the document with its method, and only those', async (t) => {
  const served = servedRoutes(api.app.printRoutes({ commonPrefix: false }));
  // The parser must not invent routes: fastify itself confirms each one.
  for (const route of served) {
    const [method, url] = route.split(' ') as [string, string];
    t.ok(api.app.hasRoute({ method: method as 'GET', url }), `fastify has ${route}`);
  }
  t.ok(served.includes('DELETE /api/tenants/:id') && served.includes('POST /api/auth/login') && served.includes('GET /health'), 'the tree was read down to nested and parameterised routes');

  const documented = Object.entries(document.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((key) => OPERATIONS.has(key))
      .map((method) => `${method.toUpperCase()} ${toFastifyPath(path)}`),
  );
  const expected = served.filter((route) => !UNDOCUMENTED.has(route));
  t.comment(`${served.length} routes served (HEAD aside), ${expected.length} to document, ${documented.length} operations documented`);
  t.ok(expected.length >= 25, `a real route table (${expected.length} routes)`);
  t.same(expected.filter((route) => !documented.includes(route)), [], 'no served route is missing from the document');
  t.same(documented.filter((route) => !served.includes(route)), [], 'the document lists no route fastify does not serve');
  for (const route of UNDOCUMENTED) t.notOk(documented.includes(route), `${route} is served but hidden`);

  for (const path of Object.keys(document.paths)) {
    const params = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    if (params.length === 0) continue;
    for (const [method, operation] of Object.entries(document.paths[path]!)) {
      if (!OPERATIONS.has(method)) continue;
      const declared = ((operation as { parameters?: { in: string; name: string }[] }).parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
      t.same(declared.sort(), [...params].sort(), `${method.toUpperCase()} ${path} declares its path parameters`);
    }
  }
});

t.test('the document says which system routes need a token', async (t) => {
  type Operation = { security?: unknown[]; responses: Record<string, unknown> };
  const get = (path: string) => document.paths[path]!.get as Operation;
  t.same(get('/api/system/info').security, [{ bearer: [] }], '/api/system/info: bearer token');
  t.ok(get('/api/system/info').responses['401'], '/api/system/info: documents its 401');
  t.equal(get('/api/version').security, undefined, '/api/version: public');
  t.equal(get('/health').security, undefined, '/health: public');
});
