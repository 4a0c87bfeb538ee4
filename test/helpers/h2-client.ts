/** node's own HTTP/2 client, for tests that speak h2 to VeloFlux's HTTPS listener. */
import { connect, type ClientHttp2Session, type IncomingHttpHeaders, type IncomingHttpStatusHeader, type OutgoingHttpHeaders } from 'node:http2';

export interface H2Answer {
  status: number;
  headers: IncomingHttpHeaders & IncomingHttpStatusHeader;
  body: Buffer;
  trailers: IncomingHttpHeaders;
}

/** A session to `https://127.0.0.1:<port>` trusting `ca`, SNI `servername`. */
export function h2Connect(port: number, ca: string, servername = 'localhost'): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(`https://127.0.0.1:${port}`, { ca, servername });
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

/** One request on `session`; rejects if the stream is reset or errors before its end. */
export function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer | string): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let head: (IncomingHttpHeaders & IncomingHttpStatusHeader) | undefined;
    let trailers: IncomingHttpHeaders = {};
    stream.on('response', (h) => (head = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    let ended = false;
    stream.on('end', () => (ended = true));
    // A reset stream closes too: only a clean end with a head is an answer.
    stream.on('close', () => {
      if (stream.rstCode === 0 && ended && head !== undefined) resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks), trailers });
      else reject(Object.assign(error ?? new Error(`stream closed with code ${stream.rstCode}`), { rstCode: stream.rstCode, head }));
    });
    // A reset also arrives as an error (ERR_HTTP2_STREAM_ERROR); 'close' reports it with its code.
    let error: Error | undefined;
    stream.on('error', (err) => (error = err));
    if (body !== undefined) stream.end(body);
  });
}
