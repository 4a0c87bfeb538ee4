/**
 * A raw HTTP/2 client for abuse tests: hand-built frames (RFC 9113 §4, §6) and HPACK blocks
 * (RFC 7541, literal and indexed fields, no Huffman) over a TLS socket that negotiated h2, for
 * what node's own client will not send (connection-specific headers, CONTINUATION without end,
 * resets by the thousand, floods). It reads the server's frames only to record GOAWAY and
 * RST_STREAM, and it can stop reading altogether.
 */
import { connect, type TLSSocket } from 'node:tls';

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
export const ERROR_CODE = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, REFUSED_STREAM: 7, CANCEL: 8, ENHANCE_YOUR_CALM: 0xb } as const;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** RFC 7541 §5.1: an integer with an N-bit prefix, the first byte's high bits set to `high`. */
function hpackInteger(value: number, prefixBits: number, high: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([high | value]);
  const bytes = [high | max];
  value -= max;
  while (value >= 128) {
    bytes.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  return Buffer.concat([hpackInteger(bytes.length, 7, 0), bytes]);
}

/** Literal field without indexing, new name (RFC 7541 §6.2.2). */
export function literal(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00]), hpackString(name), hpackString(value)]);
}

/** Literal field with incremental indexing, new name (RFC 7541 §6.2.1): lands in the dynamic table at index 62. */
export function literalIndexed(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x40]), hpackString(name), hpackString(value)]);
}

/** Indexed field (RFC 7541 §6.1): one byte or so for a whole entry of the table. */
export function indexed(index: number): Buffer {
  return hpackInteger(index, 7, 0x80);
}

/** The header block of `GET <path>` to `authority` over https. */
export function requestBlock(path: string, authority = 'localhost', extra: Buffer[] = []): Buffer {
  return Buffer.concat([literal(':method', 'GET'), literal(':scheme', 'https'), literal(':authority', authority), literal(':path', path), ...extra]);
}

export interface RawH2 {
  readonly socket: TLSSocket;
  /** Error codes of GOAWAY frames received. */
  readonly goaways: number[];
  /** RST_STREAM frames received: stream id and error code. */
  readonly resets: { streamId: number; code: number }[];
  /** HEADERS frames received, by stream id. */
  readonly headers: number[];
  /** Resolves when the connection is closed (either side). */
  readonly closed: Promise<void>;
  send(...frames: Buffer[]): boolean;
}

/** A TLS connection to VeloFlux that negotiated h2, with the preface and an empty SETTINGS sent. */
export function rawH2(port: number, ca: string, options: { ackSettings?: boolean } = {}): Promise<RawH2> {
  const servername = 'localhost';
  const ackSettings = options.ackSettings ?? true;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername, ALPNProtocols: ['h2'] });
    const goaways: number[] = [];
    const resets: { streamId: number; code: number }[] = [];
    const headers: number[] = [];
    let pending = Buffer.alloc(0);
    socket.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      while (pending.length >= 9) {
        const length = pending.readUIntBE(0, 3);
        if (pending.length < 9 + length) break;
        const type = pending[3]!;
        const streamId = pending.readUInt32BE(5) & 0x7fffffff;
        const payload = pending.subarray(9, 9 + length);
        if (type === FRAME.GOAWAY) goaways.push(payload.readUInt32BE(4));
        else if (type === FRAME.RST_STREAM) resets.push({ streamId, code: payload.readUInt32BE(0) });
        else if (type === FRAME.HEADERS) headers.push(streamId);
        else if (ackSettings && type === FRAME.SETTINGS && (pending[4]! & FLAG.ACK) === 0) socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
        pending = pending.subarray(9 + length);
      }
    });
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.on('error', () => {});
    socket.once('secureConnect', () => {
      if (socket.alpnProtocol !== 'h2') return reject(new Error(`ALPN gave ${String(socket.alpnProtocol)}`));
      socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
      resolve({ socket, goaways, resets, headers, closed, send: (...frames) => socket.write(Buffer.concat(frames)) });
    });
    socket.once('error', reject);
  });
}

/** True once `raw`'s connection closes within `ms`. */
export async function closesWithin(raw: RawH2, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const result = await Promise.race([raw.closed.then(() => true as const), timedOut]);
  clearTimeout(timer);
  return result;
}
