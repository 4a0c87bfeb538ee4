/**
 * Enforces `server.limits.maxBodySize` on chunked request bodies, whose length is only known
 * as they stream (a declared Content-Length is checked before any byte is forwarded).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { VelofluxError } from '../../shared/errors.js';

export class BodyLimit extends Transform {
  readonly #limit: number;
  #seen = 0;

  constructor(limit: number) {
    super();
    this.#limit = limit;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.#limit) return callback(new VelofluxError('VF_ERR_BODY_TOO_LARGE'));
    callback(null, chunk);
  }
}
