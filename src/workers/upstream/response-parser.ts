/**
 * Node's own llhttp binding, in response mode: the parser node's http client uses, native and
 * strict (no lenient flags), typed for the upstream client. `_http_common` is a long-stable
 * built-in module; its callback slots and signatures are checked on Node 20, 22 and 24 by the
 * upstream client's tests.
 */
import { HTTPParser } from '_http_common';

export interface ResponseEvents {
  /**
   * The response head. `headers` is flat `[name, value, ...]`. Return true when the response has
   * no body whatever its head says (the answer to HEAD).
   */
  onHead(status: number, headers: string[], keepAlive: boolean): boolean;
  onBody(chunk: Buffer): void;
  /** The message ended; `trailers` (flat) when a chunked body carried a trailer section (RFC 9112 §7.1.2). */
  onMessageComplete(trailers: string[] | undefined): void;
}

export interface ResponseParser {
  /** Bytes parsed, or the parse error (its `code` is llhttp's, such as HPE_INVALID_CONSTANT). */
  execute(data: Buffer): number | (Error & { code?: string });
  /** End of input: completes a body that runs to the end of the connection; an error if a message was cut short. */
  finish(): (Error & { code?: string }) | undefined;
  /** Forgets any partial message: the next byte must start a new response. */
  reset(): void;
  close(): void;
}

interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenientFlags: number): void;
  execute(data: Buffer): number | (Error & { code?: string });
  finish(): (Error & { code?: string }) | undefined;
  close(): void;
  [slot: number]: unknown;
}

const kOnHeaders = HTTPParser.kOnHeaders | 0;
const kOnHeadersComplete = HTTPParser.kOnHeadersComplete | 0;
const kOnBody = HTTPParser.kOnBody | 0;
const kOnMessageComplete = HTTPParser.kOnMessageComplete | 0;
/** Tells llhttp to expect no body (node's http client returns the same for HEAD). */
const SKIP_BODY = 1;

export function createResponseParser(events: ResponseEvents, maxHeaderSize: number): ResponseParser {
  const parser = new HTTPParser() as unknown as NativeParser;
  // The async-hooks resource node's own client would pass; one per parser is enough here.
  const resource = {};
  const initialize = () => parser.initialize(HTTPParser.RESPONSE, resource, maxHeaderSize, HTTPParser.kLenientNone);
  initialize();
  // llhttp hands over headers in batches of 32 pairs when a head has more; the rest come with the head.
  let early: string[] | undefined;
  parser[kOnHeaders] = (headers: string[]) => {
    (early ??= []).push(...headers);
  };
  parser[kOnHeadersComplete] = (_major: number, _minor: number, headers: string[] | undefined, _method: unknown, _url: unknown, status: number, _statusText: unknown, _upgrade: boolean, keepAlive: boolean) => {
    let all = headers ?? [];
    if (early !== undefined) {
      all = early.concat(all);
      early = undefined;
    }
    return events.onHead(status, all, keepAlive) ? SKIP_BODY : 0;
  };
  parser[kOnBody] = (chunk: Buffer) => events.onBody(chunk);
  parser[kOnMessageComplete] = () => {
    // After the head, kOnHeaders only ever carries the trailer section of a chunked body.
    const trailers = early;
    early = undefined;
    events.onMessageComplete(trailers);
  };
  return {
    execute: (data) => parser.execute(data),
    finish: () => parser.finish(),
    reset: () => {
      early = undefined;
      initialize();
    },
    close: () => parser.close(),
  };
}
