/** The backend's side of a WebSocket opening handshake (RFC 6455 §4.1, §4.2.2), as the proxy checks and relays it. */
import { createHash } from 'node:crypto';

const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The Sec-WebSocket-Accept a backend must answer the client's `key` with. */
export function expectedAccept(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

/** A 101's headers (flat list) say `Upgrade: websocket` and accept the client's key. */
export function acceptsWebSocket(headers: readonly string[], key: string): boolean {
  let upgrade = false;
  let accepted = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    if (name === 'upgrade') upgrade = headers[i + 1]!.toLowerCase() === 'websocket';
    else if (name === 'sec-websocket-accept') accepted = headers[i + 1] === expectedAccept(key);
  }
  return upgrade && accepted;
}

/**
 * The 101 head the client gets: the backend's end-to-end headers (hop-by-hop ones already
 * removed), a sticky Set-Cookie when the client is not pinned yet, and the upgrade itself.
 */
export function switchingProtocolsHead(headers: readonly string[], setCookie: string | undefined): string {
  let head = 'HTTP/1.1 101 Switching Protocols\r\n';
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  if (setCookie !== undefined) head += `set-cookie: ${setCookie}\r\n`;
  return `${head}connection: Upgrade\r\nupgrade: websocket\r\n\r\n`;
}
