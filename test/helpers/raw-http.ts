/** Sends bytes on a raw TCP socket and collects everything until the peer closes (or a timeout). */
import { connect } from 'node:net';

export interface RawResult {
  /** Everything received, latin1. */
  text: string;
  /** Status code of the first response, or 0 when none. */
  status: number;
  /** Whether the server closed the connection (false: still open at the timeout). */
  closedByServer: boolean;
}

export function rawRequest(port: number, payload: string | Buffer, timeoutMs = 2000): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(payload));
    let text = '';
    let settled = false;
    const finish = (closedByServer: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ text, status: m ? Number(m[1]) : 0, closedByServer });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (err) => (settled ? undefined : text === '' ? reject(err) : finish(true)));
  });
}
