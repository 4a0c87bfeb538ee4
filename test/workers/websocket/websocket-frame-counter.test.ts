import t from 'tap';
import { randomBytes } from 'node:crypto';
import { WebSocketFrameCounter, type DirectionTotals } from '../../../src/workers/websocket/websocket-frame-counter.js';

const TEXT = 0x1;
const BINARY = 0x2;
const CONTINUATION = 0x0;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;

interface FrameSpec {
  opcode: number;
  /** Payload, or its length (filled with bytes that look like frame headers). */
  payload: Buffer | number;
  fin?: boolean;
  masked?: boolean;
  /** Length encoding; default the smallest that fits, as RFC 6455 §5.2 asks of senders. */
  lengthBits?: 7 | 16 | 64;
}

/** One frame as RFC 6455 §5.2 lays it out; masked payloads are really masked. */
function frame({ opcode, payload, fin = true, masked = false, lengthBits }: FrameSpec): Buffer {
  const body = typeof payload === 'number' ? Buffer.alloc(payload, 0x81) : payload;
  const bits = lengthBits ?? (body.length < 126 ? 7 : body.length < 65536 ? 16 : 64);
  const head = [(fin ? 0x80 : 0) | opcode];
  const maskBit = masked ? 0x80 : 0;
  if (bits === 7) head.push(maskBit | body.length);
  else if (bits === 16) head.push(maskBit | 126, body.length >> 8, body.length & 0xff);
  else {
    head.push(maskBit | 127);
    const length = Buffer.alloc(8);
    length.writeBigUInt64BE(BigInt(body.length));
    head.push(...length);
  }
  if (!masked) return Buffer.concat([Buffer.from(head), body]);
  const key = randomBytes(4);
  const maskedBody = Buffer.from(body.map((b, i) => b ^ key[i & 3]!));
  return Buffer.concat([Buffer.from(head), key, maskedBody]);
}

function count(...chunks: Buffer[]): { totals: DirectionTotals; counter: WebSocketFrameCounter } {
  const totals = { messages: 0, bytes: 0 };
  const counter = new WebSocketFrameCounter(totals);
  for (const chunk of chunks) counter.push(chunk);
  return { totals, counter };
}

t.test('a single text or binary frame is one message, masked or not', async (t) => {
  for (const masked of [false, true]) {
    for (const opcode of [TEXT, BINARY]) {
      const bytes = frame({ opcode, payload: Buffer.from('hello'), masked });
      const { totals, counter } = count(bytes);
      t.same(totals, { messages: 1, bytes: bytes.length }, `opcode ${opcode} masked=${masked}`);
      t.ok(counter.atFrameBoundary);
    }
  }
});

t.test('empty data frames count', async (t) => {
  const { totals } = count(frame({ opcode: TEXT, payload: 0 }), frame({ opcode: BINARY, payload: 0, masked: true }));
  t.equal(totals.messages, 2);
});

t.test('7-, 16- and 64-bit payload lengths are skipped exactly', async (t) => {
  const sizes = [0, 1, 125, 126, 127, 200, 65535, 65536, 70000];
  for (const masked of [false, true]) {
    const frames = sizes.map((n) => frame({ opcode: BINARY, payload: n, masked }));
    const { totals, counter } = count(Buffer.concat(frames));
    t.equal(totals.messages, sizes.length, `masked=${masked}`);
    t.ok(counter.atFrameBoundary);
  }
  // Longer encodings than needed are still valid framing.
  const { totals } = count(frame({ opcode: TEXT, payload: 3, lengthBits: 16 }), frame({ opcode: TEXT, payload: 3, lengthBits: 64, masked: true }));
  t.equal(totals.messages, 2);
});

t.test('a fragmented message counts once, control frames in between count never', async (t) => {
  const stream = [
    frame({ opcode: TEXT, payload: 10, fin: false, masked: true }),
    frame({ opcode: PING, payload: 4, masked: true }),
    frame({ opcode: CONTINUATION, payload: 300, fin: false, masked: true }),
    frame({ opcode: PONG, payload: 0, masked: true }),
    frame({ opcode: CONTINUATION, payload: 5, fin: true, masked: true }),
  ];
  const { totals } = count(...stream);
  t.equal(totals.messages, 1);
  t.equal(totals.bytes, Buffer.concat(stream).length, 'bytes are every byte on the wire');
});

t.test('ping, pong and close are not messages; a close frame is noticed', async (t) => {
  const { totals, counter } = count(frame({ opcode: PING, payload: 2 }), frame({ opcode: PONG, payload: 2 }));
  t.equal(totals.messages, 0);
  t.notOk(counter.closeSeen);
  counter.push(frame({ opcode: CLOSE, payload: Buffer.from([0x03, 0xe8]) }));
  t.equal(totals.messages, 0);
  t.ok(counter.closeSeen);
  t.ok(counter.atFrameBoundary);
});

t.test('a frame boundary is known mid-stream', async (t) => {
  const bytes = frame({ opcode: BINARY, payload: 300, masked: true });
  const { counter } = count(bytes.subarray(0, 1));
  t.notOk(counter.atFrameBoundary, 'inside the header');
  counter.push(bytes.subarray(1, 6));
  t.notOk(counter.atFrameBoundary, 'inside the masking key');
  counter.push(bytes.subarray(6, 20));
  t.notOk(counter.atFrameBoundary, 'inside the payload');
  counter.push(bytes.subarray(20));
  t.ok(counter.atFrameBoundary, 'after the last payload byte');
});

/** A stream with every header shape in it: each length form, masked and not, fragments, control frames. */
function mixedStream(masked: boolean): { frames: Buffer[]; messages: number } {
  const frames = [
    frame({ opcode: TEXT, payload: 5, masked }),
    frame({ opcode: BINARY, payload: 0, masked }),
    frame({ opcode: TEXT, payload: 130, fin: false, masked }),
    frame({ opcode: PING, payload: 125, masked }),
    frame({ opcode: CONTINUATION, payload: 1, fin: false, masked }),
    frame({ opcode: CONTINUATION, payload: 9, masked, lengthBits: 64 }),
    frame({ opcode: BINARY, payload: 126, masked }),
    frame({ opcode: PONG, payload: 0, masked }),
    frame({ opcode: BINARY, payload: 7, masked, lengthBits: 16 }),
    frame({ opcode: CLOSE, payload: Buffer.from([0x0f, 0xa0, 0x62, 0x79, 0x65]), masked }),
  ];
  return { frames, messages: 5 };
}

t.test('every split point of the stream gives the same counts', async (t) => {
  for (const masked of [false, true]) {
    const { frames, messages } = mixedStream(masked);
    const stream = Buffer.concat(frames);
    const boundaries = new Set<number>([0]);
    let offset = 0;
    for (const f of frames) boundaries.add((offset += f.length));
    let failures = 0;
    for (let split = 0; split <= stream.length; split++) {
      const { totals, counter } = count(stream.subarray(0, split));
      if (counter.atFrameBoundary !== boundaries.has(split)) failures++;
      counter.push(stream.subarray(split));
      if (totals.messages !== messages || totals.bytes !== stream.length || !counter.atFrameBoundary || !counter.closeSeen) failures++;
    }
    t.equal(failures, 0, `${stream.length + 1} two-way splits, masked=${masked}`);

    // Three pieces: each header byte may land alone, at the start or the end of a chunk.
    failures = 0;
    for (let a = 0; a <= stream.length; a++) {
      for (let b = a; b <= stream.length; b++) {
        const { totals } = count(stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b));
        if (totals.messages !== messages) failures++;
      }
    }
    t.equal(failures, 0, `every three-way split, masked=${masked}`);

    const oneByOne = count(...[...stream].map((b) => Buffer.from([b])));
    t.equal(oneByOne.totals.messages, messages, `byte by byte, masked=${masked}`);
  }
});

t.test('a 64-bit length split across chunks, with a large payload', async (t) => {
  const stream = Buffer.concat([frame({ opcode: BINARY, payload: 70000, masked: true }), frame({ opcode: TEXT, payload: 1, masked: true })]);
  let failures = 0;
  for (let split = 0; split <= 20; split++) {
    const { totals } = count(stream.subarray(0, split), stream.subarray(split, 40000), stream.subarray(40000));
    if (totals.messages !== 2) failures++;
  }
  t.equal(failures, 0);
});

t.test('bytes that break the framing rules stop the counting, not the byte count', async (t) => {
  const cases = {
    '64-bit length with its top bit set': Buffer.from([0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1]),
    'control frame longer than 125 bytes': frame({ opcode: PING, payload: 126 }),
    'fragmented control frame': frame({ opcode: PING, payload: 1, fin: false }),
  };
  for (const [name, bad] of Object.entries(cases)) {
    const after = frame({ opcode: TEXT, payload: 1 });
    const { totals, counter } = count(frame({ opcode: TEXT, payload: 1 }), bad, after);
    t.equal(totals.messages, 1, name);
    t.equal(totals.bytes, 2 * after.length + bad.length);
    t.ok(counter.broken);
    t.notOk(counter.atFrameBoundary, 'no close frame may be appended to a broken stream');
  }
});

t.test('frames with reserved opcodes are not messages', async (t) => {
  const { totals, counter } = count(frame({ opcode: 0x3, payload: 4 }), frame({ opcode: TEXT, payload: 4 }));
  t.equal(totals.messages, 1);
  t.notOk(counter.broken);
});
