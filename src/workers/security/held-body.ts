/**
 * A request body after the security filter read its start: the chunks it held (at most
 * inspectBodyBytes and the chunk that crossed it) replayed first, then the rest of the request
 * streamed with backpressure, as the upstream client reads any body. Nothing beyond what was
 * held is ever buffered here.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

const kHeld = Symbol('veloflux.heldBody');
type Source = IncomingMessage & { [kHeld]?: HeldBody };

export class HeldBody extends Readable {
  readonly #req: Source;
  #chunks: Buffer[];
  #next = 0;
  readonly #complete: boolean;
  #attached = false;

  constructor(req: IncomingMessage, chunks: Buffer[], complete: boolean) {
    super();
    this.#req = req;
    this.#chunks = chunks;
    this.#complete = complete;
  }

  override _read(): void {
    while (this.#next < this.#chunks.length) {
      const chunk = this.#chunks[this.#next++]!;
      if (!this.push(chunk)) return;
    }
    this.#chunks = [];
    this.#next = 0;
    if (this.#complete) {
      this.push(null);
      return;
    }
    if (!this.#attached) {
      this.#attached = true;
      const req = this.#req;
      req[kHeld] = this;
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
      req.on('close', onClose);
    }
    this.#req.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#detach();
    callback(err);
  }

  #detach(): void {
    const req = this.#req;
    if (!this.#attached) return;
    this.#attached = false;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
    req.off('close', onClose);
    req[kHeld] = undefined;
  }

  /** From the request's listeners. */
  relay(chunk: Buffer): void {
    if (!this.push(chunk)) this.#req.pause();
  }

  finish(): void {
    this.#detach();
    this.push(null);
  }
}

function onData(this: Source, chunk: Buffer): void {
  this[kHeld]?.relay(chunk);
}

function onEnd(this: Source): void {
  this[kHeld]?.finish();
}

function onError(this: Source, err: Error): void {
  this[kHeld]?.destroy(err);
}

/** Closed without 'end': the client went away mid-body. */
function onClose(this: Source): void {
  const held = this[kHeld];
  if (held !== undefined && !this.complete) held.destroy(new Error('the request body ended before its length'));
}
