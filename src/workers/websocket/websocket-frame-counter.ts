/**
 * Counts WebSocket messages flowing one way through a tunnel from frame headers alone
 * (RFC 6455 §5.2): payloads are skipped by their length, never buffered or unmasked, and a
 * header split across TCP chunks is carried over byte by byte, so nothing is allocated per frame.
 *
 * It also knows whether the bytes handed on so far end on a frame boundary and whether a close
 * frame went by: only then may the proxy append a close frame of its own (idle timeout, max
 * lifetime) without corrupting the stream. Bytes that break the framing rules stop the counting
 * (a tunnel forwards them regardless; the endpoints decide what to do with them).
 */

/** What the counters of one direction add up to, shared by every tunnel of a worker. */
export interface DirectionTotals {
  /** Complete messages: data frames with FIN set (a fragmented message counts once). */
  messages: number;
  /** Bytes on the wire after the handshake: frame headers, payloads and control frames. */
  bytes: number;
}

// Where the next byte belongs.
const FIRST_BYTE = 0;
const LENGTH_BYTE = 1;
const EXTENDED_LENGTH = 2;
const MASKING_KEY = 3;
const PAYLOAD = 4;
const BROKEN = 5;

const OPCODE_BINARY = 0x2;
const OPCODE_CLOSE = 0x8;
/** Opcodes 0x8 and up are control frames (§5.5): never part of a message, never fragmented. */
const FIRST_CONTROL_OPCODE = 0x8;
const MAX_CONTROL_PAYLOAD = 125;

export class WebSocketFrameCounter {
  readonly #totals: DirectionTotals;
  #state = FIRST_BYTE;
  #fin = false;
  #opcode = 0;
  #masked = false;
  /** Bytes still expected of the extended length or the masking key. */
  #headerBytesLeft = 0;
  #payloadLength = 0;
  #payloadLeft = 0;
  #closeSeen = false;
  /** Messages of this tunnel alone (the totals are the worker's). */
  #messages = 0;

  constructor(totals: DirectionTotals) {
    this.#totals = totals;
  }

  get messages(): number {
    return this.#messages;
  }

  /** True when every byte seen so far belongs to complete frames (or to a header-less start). */
  get atFrameBoundary(): boolean {
    return this.#state === FIRST_BYTE;
  }

  /** A close frame header went by in this direction: nothing may be sent after it (§5.5.1). */
  get closeSeen(): boolean {
    return this.#closeSeen;
  }

  /** The stream broke the framing rules; counting stopped. */
  get broken(): boolean {
    return this.#state === BROKEN;
  }

  /** Feeds the next chunk of the stream, in order. */
  push(chunk: Uint8Array): void {
    this.#totals.bytes += chunk.length;
    const end = chunk.length;
    let i = 0;
    while (i < end) {
      switch (this.#state) {
        case PAYLOAD: {
          // The common case: skip the payload (or as much of it as this chunk holds) at once.
          const take = Math.min(this.#payloadLeft, end - i);
          this.#payloadLeft -= take;
          i += take;
          if (this.#payloadLeft === 0) this.#state = FIRST_BYTE;
          break;
        }
        case FIRST_BYTE: {
          const byte = chunk[i++]!;
          this.#fin = (byte & 0x80) !== 0;
          this.#opcode = byte & 0x0f;
          this.#state = LENGTH_BYTE;
          break;
        }
        case LENGTH_BYTE: {
          const byte = chunk[i++]!;
          this.#masked = (byte & 0x80) !== 0;
          const length = byte & 0x7f;
          if (length < 126) {
            this.#payloadLength = length;
            this.#afterLength();
          } else {
            // 126: a 16-bit length follows; 127: a 64-bit one (network byte order).
            this.#payloadLength = 0;
            this.#headerBytesLeft = length === 126 ? 2 : 8;
            this.#state = EXTENDED_LENGTH;
          }
          break;
        }
        case EXTENDED_LENGTH: {
          const byte = chunk[i++]!;
          // §5.2: the most significant bit of a 64-bit length must be 0.
          if (this.#headerBytesLeft === 8 && byte > 0x7f) {
            this.#state = BROKEN;
            return;
          }
          // Multiplication, not shifts: lengths beyond 2^32 stay exact up to 2^53.
          this.#payloadLength = this.#payloadLength * 256 + byte;
          if (--this.#headerBytesLeft === 0) this.#afterLength();
          break;
        }
        case MASKING_KEY: {
          const take = Math.min(this.#headerBytesLeft, end - i);
          this.#headerBytesLeft -= take;
          i += take;
          if (this.#headerBytesLeft === 0) this.#headerDone();
          break;
        }
        default:
          return;
      }
    }
  }

  #afterLength(): void {
    if (this.#masked) {
      this.#headerBytesLeft = 4;
      this.#state = MASKING_KEY;
    } else {
      this.#headerDone();
    }
  }

  #headerDone(): void {
    const opcode = this.#opcode;
    if (opcode >= FIRST_CONTROL_OPCODE) {
      // §5.5: control frames are never fragmented and carry at most 125 bytes.
      if (!this.#fin || this.#payloadLength > MAX_CONTROL_PAYLOAD) {
        this.#state = BROKEN;
        return;
      }
      if (opcode === OPCODE_CLOSE) this.#closeSeen = true;
    } else if (this.#fin && opcode <= OPCODE_BINARY) {
      // Text, binary or the last continuation of a fragmented message (reserved opcodes 0x3-0x7
      // belong to extensions, which are not counted).
      this.#totals.messages++;
      this.#messages++;
    }
    this.#payloadLeft = this.#payloadLength;
    this.#state = this.#payloadLeft === 0 ? FIRST_BYTE : PAYLOAD;
  }
}
