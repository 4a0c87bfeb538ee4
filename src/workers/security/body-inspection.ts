/**
 * One request's body inspection (body-check.ts): reads the body as it arrives, holding at most
 * inspectBodyBytes (plus the chunk that crossed it), then inspects the fields of what it holds
 * (urlencoded, JSON, multipart) and hands the verdict to its owner, the route's security stage,
 * with the held chunks ready to be replayed upstream. The request is paused from then on until
 * the upstream client reads on, so a long upload is streamed, never buffered.
 */
import type { IncomingMessage } from 'node:http';
import type { Exchange } from '../proxy/exchange.js';
import type { BodyCheck } from '../proxy/body-check.js';
import type { BodyFormat } from './content-type.js';
import { HeldBody } from './held-body.js';
import type { SecurityTransaction } from './transaction.js';

export interface BodyVerdictOwner {
  /** `text`: the held bytes up to the limit, decoded. Throws on a filter failure (the owner counts it). */
  inspectBodyText(tx: SecurityTransaction, format: BodyFormat, boundary: string | undefined, text: string): void;
  /** The body was read up to the limit or its end; `overflowed`: more followed that was not inspected. */
  concludeBody(exchange: Exchange, tx: SecurityTransaction, overflowed: boolean, body: HeldBody, failure: unknown): void;
}

const kInspection = Symbol('veloflux.bodyInspection');
type Inspected = IncomingMessage & { [kInspection]?: BodyInspection };

export class BodyInspection implements BodyCheck {
  readonly #owner: BodyVerdictOwner;
  readonly #tx: SecurityTransaction;
  readonly #format: BodyFormat;
  readonly #boundary: string | undefined;
  readonly #limit: number;
  readonly #chunks: Buffer[] = [];
  #seen = 0;
  #exchange: Exchange | undefined;
  #decided = false;

  constructor(owner: BodyVerdictOwner, tx: SecurityTransaction, format: BodyFormat, boundary: string | undefined, limit: number) {
    this.#owner = owner;
    this.#tx = tx;
    this.#format = format;
    this.#boundary = boundary;
    this.#limit = limit;
  }

  check(exchange: Exchange): void {
    this.#exchange = exchange;
    const req = exchange.request as Inspected;
    req[kInspection] = this;
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
  }

  data(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#seen += chunk.length;
    if (this.#seen > this.#limit) this.#decide(false);
  }

  end(): void {
    this.#decide(true);
  }

  /** The client went away before the body was read: the exchange has answered for it already. */
  abandon(): void {
    if (this.#decided) return;
    this.#decided = true;
    this.#detach();
  }

  #decide(complete: boolean): void {
    if (this.#decided) return;
    this.#decided = true;
    const req = this.#exchange!.request;
    req.pause();
    this.#detach();
    let failure: unknown;
    try {
      const text = Buffer.concat(this.#chunks, Math.min(this.#seen, this.#limit)).toString('utf8');
      this.#owner.inspectBodyText(this.#tx, this.#format, this.#boundary, text);
    } catch (err) {
      failure = err;
    }
    this.#owner.concludeBody(this.#exchange!, this.#tx, !complete, new HeldBody(req, this.#chunks, complete), failure);
  }

  #detach(): void {
    const req = this.#exchange!.request as Inspected;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('close', onClose);
    req[kInspection] = undefined;
  }
}

function onData(this: Inspected, chunk: Buffer): void {
  this[kInspection]?.data(chunk);
}

function onEnd(this: Inspected): void {
  this[kInspection]?.end();
}

function onClose(this: Inspected): void {
  if (!this.complete) this[kInspection]?.abandon();
}
