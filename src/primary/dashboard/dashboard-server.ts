/**
 * The dashboard listener (`server.dashboard`, default :3000), run by the primary: the built web
 * app from memory (static-site.ts) and `/api/` forwarded to the main API (api-forwarder.ts).
 * Every answer carries a CSP that allows only this origin's own scripts, styles and connections
 * (no inline code, no framing), so an injected string in a backend id or log line cannot run.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { errorBody } from '../../shared/errors.js';
import { ApiForwarder, type ApiAddress } from './api-forwarder.js';
import type { StaticFile, StaticSite } from './static-site.js';

export const DASHBOARD_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

const NOT_BUILT = 'The dashboard is not built: run `npm run build` (npm ci does it), then restart VeloFlux.\n';

function isApiPath(url: string): boolean {
  return url === '/api' || url.startsWith('/api/') || url.startsWith('/api?');
}

export function createDashboardServer(site: StaticSite, api: ApiAddress): Server {
  const forwarder = new ApiForwarder(api);
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (isApiPath(url)) return forwarder.forward(req, res);
    for (const [name, value] of Object.entries(DASHBOARD_SECURITY_HEADERS)) res.setHeader(name, value);
    serveStatic(site, req, res);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if ((req.url ?? '').startsWith('/api/ws/')) return forwarder.tunnel(req, socket, head);
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  server.on('close', () => forwarder.close());
  return server;
}

function serveStatic(site: StaticSite, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json; charset=utf-8' }).end(errorBody('VF_ERR_METHOD_NOT_ALLOWED'));
    return;
  }
  if (!site.built) {
    res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(NOT_BUILT);
    return;
  }
  const pathname = decodedPath(req.url ?? '/');
  const found = pathname === undefined ? undefined : site.lookup(pathname);
  if (found === undefined || found.kind === 'missing') {
    res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache' }).end(errorBody('VF_ERR_NOT_FOUND'));
    return;
  }
  sendFile(found.file, req, res);
}

/** The path without query, percent-decoded; undefined when it cannot be decoded (then nothing can match it). */
function decodedPath(url: string): string | undefined {
  const end = url.search(/[?#]/);
  try {
    return decodeURIComponent(end === -1 ? url : url.slice(0, end));
  } catch {
    return undefined;
  }
}

function sendFile(file: StaticFile, req: IncomingMessage, res: ServerResponse): void {
  const headers: Record<string, string | number> = { 'content-type': file.contentType, 'cache-control': file.cacheControl, etag: file.etag, vary: 'Accept-Encoding' };
  if (req.headers['if-none-match'] === file.etag) {
    res.writeHead(304, headers).end();
    return;
  }
  const gzip = file.gzip !== undefined && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
  const body = gzip ? file.gzip! : file.body;
  if (gzip) headers['content-encoding'] = 'gzip';
  headers['content-length'] = body.length;
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}
