/**
 * The wire protocol of the `/api/ws/*` streams (DESIGN.md §2). Every data message is
 * `{"type": "<stream>", "data": ..., "ts": <ms since epoch>}`. Browsers cannot set an Authorization
 * header on a WebSocket, so a client proves who it is with a message instead:
 *
 * - Private streams open with `{"type":"auth_required"}` and wait for
 *   `{"type":"auth","token":"<accessToken>"}`; the server answers `{"type":"auth_ok"}` and then
 *   streams the user's view.
 * - Public streams stream the anonymous view at once (instance-wide aggregates only: no pool,
 *   route or backend names, no URLs, no alerts). A client may send the same `auth` message at any
 *   time to upgrade: after `{"type":"auth_ok"}` it receives the snapshot of its user's view and
 *   only that view from then on (a tenant's user: that tenant's objects; a user without a tenant:
 *   everything).
 *
 * On either kind, the first message a client sends is taken as its `auth`: one that is not a valid
 * `auth`, or a token that is refused, closes the stream with 4401; later messages are ignored.
 */
import type { RawData } from 'ws';
import type { StreamName } from '../../../shared/api-feed.js';

export const STREAM_PATH_PREFIX = '/api/ws/';

export const STREAM_CLOSE_CODES = {
  /** RFC 6455 §7.4.1: the server is shutting down. */
  goingAway: 1001,
  /**
   * Private-use range (RFC 6455 §7.4.2: 4000-4999), chosen to read like HTTP 401: the first message
   * was not a valid `auth`, the token was rejected, or (private streams) no `auth` came in time.
   */
  authFailed: 4401,
} as const;

/** Sent as shared Buffers: ws writes a Buffer without copying it, so every client gets the same bytes. */
export const AUTH_REQUIRED_MESSAGE: Buffer = Buffer.from('{"type":"auth_required"}');
export const AUTH_OK_MESSAGE: Buffer = Buffer.from('{"type":"auth_ok"}');

/** Serialised once per publish; the result is sent unchanged to every subscriber. */
export function encodeStreamMessage(stream: StreamName, data: unknown, ts: number): Buffer {
  return Buffer.from(JSON.stringify({ type: stream, data, ts }));
}

/** The token of an `{"type":"auth","token":"..."}` text message, or undefined for anything else. */
export function parseAuthMessage(data: RawData, isBinary: boolean): string | undefined {
  if (isBinary || !Buffer.isBuffer(data)) return undefined;
  let message: unknown;
  try {
    message = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof message !== 'object' || message === null) return undefined;
  const { type, token } = message as { type?: unknown; token?: unknown };
  return type === 'auth' && typeof token === 'string' && token !== '' ? token : undefined;
}
