/**
 * Forwards the dashboard's `/api/` calls and `/api/ws/` streams to the main API, so the app opened
 * directly on the dashboard port stays same-origin (no CORS, cookies scoped to one origin), as it
 * is behind the load balancer where VeloFlux's own routes send `/api/` to the API.
 *
 * The API sees the browser's Host (its host policy and the streams' Origin check compare against
 * it) and the browser's address appended to X-Forwarded-For: with `server.api.trustLoopback` (the
 * default) it believes that, so the login throttle counts each client, not this forwarder.
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { errorBody } from '../../shared/errors.js';

export interface ApiAddress {
  readonly host: string;
  readonly port: number;
}

/** RFC 9110 §7.6.1: connection-specific fields are not forwarded; neither is anything Connection names. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']);

export class ApiForwarder {
  readonly #api: ApiAddress;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 256 });

  constructor(api: ApiAddress) {
    this.#api = api;
  }

  forward(req: IncomingMessage, res: ServerResponse): void {
    const upstream = httpRequest({ host: this.#api.host, port: this.#api.port, method: req.method, path: req.url, headers: forwardedHeaders(req), agent: this.#agent });
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    upstream.on('error', () => {
      if (res.headersSent) return void res.destroy();
      res.writeHead(502, { 'content-type': 'application/json; charset=utf-8' }).end(errorBody('VF_ERR_UPSTREAM_CONNECT', 'The main API did not answer the dashboard'));
    });
    req.on('error', () => upstream.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  /** A WebSocket upgrade: the request head is re-sent as is (plus X-Forwarded-For) and the two sockets are joined. */
  tunnel(req: IncomingMessage, client: Socket, head: Buffer): void {
    const upstream = connect({ host: this.#api.host, port: this.#api.port });
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.once('connect', () => {
      upstream.write(requestHead(req) + '\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => {
      if (client.writable && upstream.bytesRead === 0) client.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      close();
    });
    upstream.on('close', close);
    client.on('error', close);
    client.on('close', close);
  }

  close(): void {
    this.#agent.destroy();
  }
}

function forwardedHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const headers = endToEnd(req.headers);
  headers['x-forwarded-for'] = forwardedFor(req);
  return headers;
}

/** The chain so far with this peer appended (the API believes only the part its trusted proxies added). */
function forwardedFor(req: IncomingMessage): string {
  const prior = req.headers['x-forwarded-for'];
  const peer = req.socket.remoteAddress ?? '';
  return prior === undefined ? peer : `${prior}, ${peer}`;
}

function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set((headers.connection ?? '').toLowerCase().split(',').map((token) => token.trim()));
  const kept: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name) && !named.has(name)) kept[name] = value;
  return kept;
}

/** The upgrade request as it came, hop-by-hop fields kept (an upgrade needs Connection and Upgrade), X-Forwarded-For appended. */
function requestHead(req: IncomingMessage): string {
  let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() !== 'x-forwarded-for') head += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
  return head + `X-Forwarded-For: ${forwardedFor(req)}\r\n`;
}
