/**
 * Streams a request body onto an upstream connection with backpressure: when the socket's
 * buffer is full the body is paused until the socket drains, so a 1 GB upload is never held in
 * memory. A body without a declared length is framed as chunks (RFC 9112 §7.1).
 *
 * The request head goes out with the first body bytes, not before: a body that turns out to be
 * malformed (a bad chunk size, found by node's parser) then never reaches the backend at all.
 */
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

export interface BodyEvents {
  onSent(bytes: number): void;
  /** Every byte (and the last chunk, when chunked) is written. */
  onEnd(): void;
  /** The body failed (a size limit, the client went away) before its end. */
  onError(err: Error): void;
}

const LAST_CHUNK = '0\r\n\r\n';

export class RequestBodyWriter {
  readonly #body: Readable;
  readonly #socket: Socket;
  readonly #chunked: boolean;
  readonly #events: BodyEvents;
  /** The request head, until it is written with the first bytes of the body (or its end). */
  #head: string | undefined;
  #ended = false;

  constructor(head: string, body: Readable, socket: Socket, chunked: boolean, events: BodyEvents) {
    this.#head = head;
    this.#body = body;
    this.#socket = socket;
    this.#chunked = chunked;
    this.#events = events;
    body.on('data', this.#onData);
    body.on('end', this.#onEnd);
    body.on('error', this.#onError);
    body.on('close', this.#onClose);
  }

  /** The socket drained: read on. */
  resume(): void {
    if (!this.#ended) this.#body.resume();
  }

  /** The call is over (answered early, failed or aborted): no more writes, listeners removed. */
  stop(): void {
    this.#ended = true;
    this.#body.off('data', this.#onData);
    this.#body.off('end', this.#onEnd);
    this.#body.off('error', this.#onError);
    this.#body.off('close', this.#onClose);
  }

  readonly #onData = (chunk: Buffer): void => {
    if (chunk.length === 0) return; // an empty chunk would read as the last one
    const socket = this.#socket;
    socket.cork();
    this.#writeHead();
    let flushed: boolean;
    if (this.#chunked) {
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      flushed = socket.write('\r\n', 'latin1');
    } else {
      flushed = socket.write(chunk);
    }
    socket.uncork();
    this.#events.onSent(chunk.length);
    if (!flushed) this.#body.pause();
  };

  readonly #onEnd = (): void => {
    this.#writeHead();
    if (this.#chunked) this.#socket.write(LAST_CHUNK, 'latin1');
    this.stop();
    this.#events.onEnd();
  };

  #writeHead(): void {
    if (this.#head === undefined) return;
    this.#socket.write(this.#head, 'latin1');
    this.#head = undefined;
  }

  readonly #onError = (err: Error): void => {
    this.stop();
    this.#events.onError(err);
  };

  /** Closed without 'end' or 'error': the client's connection went away mid-body. */
  readonly #onClose = (): void => {
    if (this.#ended) return;
    this.stop();
    this.#events.onError(new Error('the request body ended before its length'));
  };
}
