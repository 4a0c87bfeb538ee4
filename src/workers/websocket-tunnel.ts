/**
 * One proxied WebSocket: the upgrade request is forwarded to a backend chosen by the pool's
 * balancer, and the connection becomes a byte tunnel only after the backend answers `101` with
 * the right `Sec-WebSocket-Accept` (RFC 6455 §4.1); any other answer is relayed as it is, and an
 * invalid one gets 502. The tunnel pipes both ways with backpressure; either side closing ends
 * the other (close frames pass through untouched, so close codes arrive as sent). A tunnel is
 * two sockets and knows nothing of the runtime, so config swaps never touch it.
 */
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { ErrorCode } from '../shared/errors.js';
import type { Backend } from './backend.js';
import type { PickContext } from './balancers/balancer.js';
import { sendError } from './error-response.js';
import type { PoolRuntime } from './pool-runtime.js';
import { classifyUpstreamError } from './upstream-errors.js';

const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A backend's answer head larger than this is not a WebSocket handshake. */
const MAX_HEAD_BYTES = 16 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');

export interface TunnelRequest {
  readonly method: string;
  readonly path: string;
  /** Flat header list for the backend, hop-by-hop removed, forwarding headers added. */
  readonly headers: readonly string[];
  readonly key: string;
  readonly pick: PickContext;
}

export function expectedAccept(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

export class WebSocketTunnel {
  readonly #client: Socket;
  readonly #res: ServerResponse;
  readonly #clientHead: Buffer;
  readonly #request: TunnelRequest;
  readonly #pool: PoolRuntime;
  #backend: Backend | undefined;
  #upstream: Socket | undefined;
  #received: Buffer[] = [];
  #receivedBytes = 0;
  #settled = false;

  constructor(client: Socket, res: ServerResponse, clientHead: Buffer, request: TunnelRequest, pool: PoolRuntime) {
    this.#client = client;
    this.#res = res;
    this.#clientHead = clientHead;
    this.#request = request;
    this.#pool = pool;
  }

  start(): void {
    const backend = this.#pool.balancer.pick(this.#request.pick);
    if (backend === undefined) return this.#fail('VF_ERR_NO_HEALTHY_UPSTREAM');
    this.#backend = backend;
    backend.stats.inFlight++;
    backend.stats.requests++;
    this.#pool.balancer.onStart(backend);

    const upstream = connect({ host: backend.url.hostname, port: Number(backend.url.port || 80), noDelay: true });
    this.#upstream = upstream;
    upstream.setTimeout(this.#pool.connectTimeoutMs);
    upstream.once('connect', () => {
      upstream.setTimeout(this.#pool.responseTimeoutMs);
      upstream.write(this.#requestHead());
      if (this.#clientHead.length > 0) upstream.write(this.#clientHead);
    });
    upstream.on('timeout', () => this.#fail('VF_ERR_UPSTREAM_TIMEOUT'));
    upstream.on('data', this.#onHandshakeData);
    upstream.on('error', (err: Error & { code?: string }) => this.#fail(classifyUpstreamError(err).code));
    upstream.once('close', () => this.#onClose());
    this.#client.once('close', () => this.#onClose());
    this.#client.on('error', () => this.#client.destroy());
  }

  #requestHead(): string {
    const { method, path, headers } = this.#request;
    let head = `${method} ${path} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    return `${head}connection: Upgrade\r\nupgrade: websocket\r\n\r\n`;
  }

  /** Collects the backend's answer head, then decides: tunnel, relay, or 502. */
  readonly #onHandshakeData = (chunk: Buffer): void => {
    this.#received.push(chunk);
    this.#receivedBytes += chunk.length;
    const buffered = Buffer.concat(this.#received);
    const end = buffered.indexOf(HEAD_END);
    if (end === -1) {
      if (this.#receivedBytes > MAX_HEAD_BYTES) this.#fail('VF_ERR_UPSTREAM_BAD_RESPONSE');
      return;
    }
    const upstream = this.#upstream!;
    upstream.off('data', this.#onHandshakeData);
    upstream.setTimeout(0);
    this.#received = [];
    const head = buffered.subarray(0, end + HEAD_END.length);
    const rest = buffered.subarray(end + HEAD_END.length);
    const parsed = parseHead(head.toString('latin1'));
    if (parsed === undefined) return this.#fail('VF_ERR_UPSTREAM_BAD_RESPONSE');
    if (parsed.status !== 101) return this.#relay(head, rest, parsed.headers);
    const accepted =
      parsed.headers.get('upgrade')?.toLowerCase() === 'websocket' && parsed.headers.get('sec-websocket-accept') === expectedAccept(this.#request.key);
    if (!accepted) return this.#fail('VF_ERR_UPSTREAM_BAD_RESPONSE');
    this.#settled = true;
    const client = this.#client;
    client.write(head);
    if (rest.length > 0) client.write(rest);
    // pipe() gives backpressure both ways and ends each side when the other ends.
    upstream.pipe(client);
    client.pipe(upstream);
    upstream.on('error', () => client.destroy());
  };

  /** A non-101 answer (401, 404, ...) reaches the client as the backend sent it. */
  #relay(head: Buffer, rest: Buffer, headers: Map<string, string>): void {
    this.#settled = true;
    const client = this.#client;
    const upstream = this.#upstream!;
    client.write(head);
    const length = Number(headers.get('content-length') ?? Number.NaN);
    if (Number.isInteger(length)) {
      // Exactly the declared body, then both sides close: the backend may keep its side alive.
      let remaining = length - rest.length;
      client.write(rest.subarray(0, length));
      if (remaining <= 0) return void client.end(() => upstream.destroy());
      upstream.on('data', (chunk: Buffer) => {
        client.write(chunk.subarray(0, remaining));
        remaining -= chunk.length;
        if (remaining <= 0) client.end(() => upstream.destroy());
      });
      return;
    }
    if (rest.length > 0) client.write(rest);
    upstream.pipe(client);
  }

  #fail(code: ErrorCode): void {
    if (this.#settled) {
      this.#client.destroy();
      this.#upstream?.destroy();
      return;
    }
    this.#settled = true;
    this.#upstream?.destroy();
    sendError(this.#res, code, true);
  }

  #onClose(): void {
    this.#client.destroy();
    this.#upstream?.destroy();
    const backend = this.#backend;
    if (backend === undefined) return;
    this.#backend = undefined;
    backend.stats.inFlight--;
    this.#pool.balancer.onEnd(backend);
  }
}

/** Status and lower-cased headers of an HTTP/1.1 response head, or undefined when malformed. */
function parseHead(text: string): { status: number; headers: Map<string, string> } | undefined {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? '');
  if (status === null) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(status[1]), headers };
}
