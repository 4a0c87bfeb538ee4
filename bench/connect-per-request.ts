// Connection-per-request load: every request opens a new TCP connection, sends one GET with
// `Connection: close` and waits for the response; N such loops run concurrently for S seconds.
// `node dist/bench/connect-per-request.js --url U --connections N --duration S`
// Prints JSON lines like loadgen-worker.js: {"event":"measuring"}, then {"event":"result", ...}.
//
// Why not autocannon: its `reconnectRate` (-D) does reconnect, but autocannon 8.0.0 resets the
// connection before it emits the response (lib/httpClient.js), so with -D 1 it reports 0 req/s
// and no latency. A raw node:net client is used rather than node:http with `agent: false`
// because it spends less CPU per request, and the load generator shares the 2 CPUs with the
// proxy under test. Latency here runs from connect() to the last body byte, so it includes the
// TCP handshake and the accept (autocannon's keep-alive latency starts at the request write).
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { LatencyHistogram } from './latency-histogram.js';
import type { LoadResult } from './loadgen.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    connections: { type: 'string', default: '50' },
    duration: { type: 'string', default: '10' },
    timeout: { type: 'string', default: '10' },
  },
});
if (values.url === undefined) throw new Error('connect-per-request: --url is required');
const url = new URL(values.url);
if (url.protocol !== 'http:') throw new Error('connect-per-request: only http:// URLs');
const host = url.hostname;
const port = Number(url.port || 80);
const concurrency = Number(values.connections);
const durationMs = Number(values.duration) * 1000;
const timeoutMs = Number(values.timeout) * 1000;
const requestBytes = Buffer.from(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`, 'latin1');

const HEAD_END = Buffer.from('\r\n\r\n');
const MAX_HEAD_BYTES = 64 * 1024;
/** After a complete response, how long to wait for the server to close before closing ourselves. */
const CLOSE_GRACE_MS = 1000;

const histogram = new LatencyHistogram();
const counts = { ok: 0, non2xx: 0, errors: 0, timeouts: 0, bytes: 0, connects: 0 };
let deadline = Number.POSITIVE_INFINITY;
const open = new Set<Socket>();

/** One request on a fresh connection; resolves when the socket is closed. */
function oneRequest(): Promise<void> {
  return new Promise((resolve) => {
    const start = performance.now();
    const socket = connect({ host, port, noDelay: true });
    counts.connects++;
    open.add(socket);
    let head: Buffer | undefined = Buffer.alloc(0); // undefined once the head is parsed
    let status = 0;
    let bodyLeft = -1; // -1: no Content-Length, the response ends when the server closes
    let done = false;

    const finish = (outcome: 'complete' | 'error' | 'timeout'): void => {
      if (done) return;
      done = true;
      if (performance.now() > deadline) return; // finished after the measured window: not counted
      if (outcome === 'complete') {
        if (status >= 200 && status < 300) {
          counts.ok++;
          histogram.record(performance.now() - start);
        } else {
          counts.non2xx++;
        }
      } else if (outcome === 'timeout') {
        counts.timeouts++;
      } else {
        counts.errors++;
      }
    };

    socket.setTimeout(timeoutMs);
    socket.write(requestBytes); // buffered by node until the connection is up
    socket.on('data', (chunk: Buffer) => {
      counts.bytes += chunk.length;
      if (head !== undefined) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf(HEAD_END);
        if (end < 0) {
          if (head.length > MAX_HEAD_BYTES) {
            finish('error');
            socket.destroy();
          }
          return;
        }
        const text = head.subarray(0, end).toString('latin1');
        status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
        const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(text);
        bodyLeft = length === null ? -1 : Number(length[1]) - (head.length - end - HEAD_END.length);
        head = undefined;
      } else if (bodyLeft >= 0) {
        bodyLeft -= chunk.length;
      }
      if (bodyLeft === 0) {
        finish('complete');
        socket.setTimeout(CLOSE_GRACE_MS);
      }
    });
    // allowHalfOpen is false: our side closes as soon as the server's FIN arrives.
    socket.on('end', () => finish(head === undefined && bodyLeft < 0 ? 'complete' : 'error'));
    socket.on('timeout', () => {
      finish('timeout');
      socket.destroy();
    });
    socket.on('error', () => finish('error'));
    socket.on('close', () => {
      open.delete(socket);
      resolve();
    });
  });
}

async function loop(): Promise<void> {
  while (performance.now() < deadline) await oneRequest();
}

function emit(msg: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

emit({ event: 'measuring' });
const startedAt = performance.now();
deadline = startedAt + durationMs;
const stopTimer = setTimeout(() => {
  for (const socket of open) socket.destroy();
}, durationMs);
await Promise.all(Array.from({ length: concurrency }, loop));
clearTimeout(stopTimer);

const seconds = durationMs / 1000;
const load: LoadResult & { connects: number } = {
  rps: counts.ok / seconds,
  requests: counts.ok + counts.non2xx,
  bytesPerSecond: counts.bytes / seconds,
  p50Ms: histogram.percentile(50),
  p99Ms: histogram.percentile(99),
  errors: counts.errors,
  timeouts: counts.timeouts,
  non2xx: counts.non2xx,
  connects: counts.connects,
};
emit({ event: 'result', result: load });
