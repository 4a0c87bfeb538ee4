/**
 * Real upstream servers on 127.0.0.1:0 for integration tests. Each records what it received
 * (so a test can assert the upstream saw nothing, or exactly what) and answers with the
 * handler given, by default a JSON echo of the request.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  bodyBytes: number;
  /** Whether the request body ended normally (false when the proxy cancelled it). */
  complete: boolean;
  /** Whether the connection to the proxy closed before the response finished. */
  aborted: boolean;
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest) => void;

export interface Upstream {
  readonly port: number;
  readonly url: string;
  readonly server: Server;
  readonly requests: SeenRequest[];
  /** Raw TCP connections ever accepted. */
  connections: number;
  close(): Promise<void>;
}

/** Echoes method, url, headers and the number of body bytes as JSON. */
export const echo: UpstreamHandler = (req, res, seen) => {
  req.on('end', () => {
    const body = JSON.stringify({ port: (req.socket.localPort ?? 0), method: seen.method, url: seen.url, headers: seen.headers, bodyBytes: seen.bodyBytes });
    res.writeHead(200, { 'content-type': 'application/json', 'x-upstream-port': String(req.socket.localPort) });
    res.end(body);
  });
};

export async function startUpstream(handler: UpstreamHandler = echo): Promise<Upstream> {
  const requests: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const seen: SeenRequest = { method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0, complete: false, aborted: false };
    requests.push(seen);
    req.on('data', (chunk: Buffer) => (seen.bodyBytes += chunk.length));
    req.on('end', () => (seen.complete = true));
    res.on('close', () => {
      if (!res.writableFinished) seen.aborted = true;
    });
    handler(req, res, seen);
  });
  const upstream = {
    port: 0,
    url: '',
    server,
    requests,
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  server.on('connection', (socket: Socket) => {
    upstream.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.port = (server.address() as AddressInfo).port;
  upstream.url = `http://127.0.0.1:${upstream.port}`;
  return upstream;
}

/** A port nothing listens on (bound then released), for connect-failure tests. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
