// The backends of `npm run bench:balancing`, run as their own process so their timers do not
// share an event loop with the load generator: `node dist/bench/balancing-backends.js --count 8
// --concurrency 4 --service-ms 20` prints {"ports": [...], "control": N} when listening.
//
// Each backend is a server with a fixed number of service slots (`--concurrency`): a request
// holds a slot for a service time drawn uniformly from [0.5, 1.5] × `--service-ms`, and waits in
// a FIFO queue when every slot is taken, as a worker pool or a database connection pool makes a
// real service queue. Its capacity is thus concurrency / service time. A degraded backend either
// answers `extraMs` later without holding a slot (a slow dependency: latency, no capacity lost),
// or takes `serviceFactor` times longer in its slot (capacity divided: it queues).
//
// Control (on its own port): `PUT /degraded` with {"indexes": [..], "extraMs": n,
// "serviceFactor": f} sets those backends degraded and every other one normal; `GET /counts`
// gives the requests accepted since the last `POST /reset`, in all and by a degraded backend.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '4' },
    'service-ms': { type: 'string', default: '20' },
  },
});
const COUNT = Number(values.count);
const CONCURRENCY = Number(values.concurrency);
const SERVICE_MS = Number(values['service-ms']);

const BODY = Buffer.alloc(100, 'x');
const HEADERS = ['content-type', 'application/octet-stream', 'content-length', String(BODY.length)];

class QueuedBackend {
  extraMs = 0;
  serviceFactor = 1;
  degraded = false;
  #busy = 0;
  /** FIFO of waiting responses: an array read from `#head`, compacted when drained. */
  #waiting: ServerResponse[] = [];
  #head = 0;

  accept(res: ServerResponse): void {
    counts.accepted++;
    if (this.degraded) counts.acceptedDegraded++;
    if (this.#busy < CONCURRENCY) this.#serve(res);
    else this.#waiting.push(res);
  }

  #serve(res: ServerResponse): void {
    this.#busy++;
    const serviceMs = SERVICE_MS * this.serviceFactor * (0.5 + Math.random());
    setTimeout(() => this.#served(res), serviceMs);
  }

  #served(res: ServerResponse): void {
    this.#busy--;
    if (this.extraMs > 0) setTimeout(() => this.#answer(res), this.extraMs);
    else this.#answer(res);
    if (this.#head < this.#waiting.length) {
      this.#serve(this.#waiting[this.#head++]!);
      if (this.#head === this.#waiting.length) {
        this.#waiting = [];
        this.#head = 0;
      }
    }
  }

  #answer(res: ServerResponse): void {
    // The client (the proxy) may have given up on it meanwhile.
    if (res.destroyed) return;
    res.writeHead(200, HEADERS);
    res.end(BODY);
  }
}

const counts = { accepted: 0, acceptedDegraded: 0 };
const backends = Array.from({ length: COUNT }, () => new QueuedBackend());
const ports: number[] = [];

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<number> {
  const server = createServer(handler);
  // Longer than the proxy's upstream idle timeout: the proxy always closes first.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  server.requestTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

for (const backend of backends) {
  ports.push(
    await listen((req, res) => {
      req.resume();
      backend.accept(res);
    }),
  );
}

const control = await listen((req, res) => {
  let body = '';
  req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
  req.on('end', () => {
    if (req.method === 'PUT' && req.url === '/degraded') {
      const { indexes, extraMs, serviceFactor } = JSON.parse(body) as { indexes: number[]; extraMs: number; serviceFactor: number };
      backends.forEach((backend, i) => {
        backend.degraded = indexes.includes(i);
        backend.extraMs = backend.degraded ? extraMs : 0;
        backend.serviceFactor = backend.degraded ? serviceFactor : 1;
      });
      res.writeHead(204).end();
    } else if (req.method === 'POST' && req.url === '/reset') {
      counts.accepted = 0;
      counts.acceptedDegraded = 0;
      res.writeHead(204).end();
    } else if (req.method === 'GET' && req.url === '/counts') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(counts));
    } else {
      res.writeHead(404).end();
    }
  });
});

process.stdout.write(`${JSON.stringify({ ports, control })}\n`);
process.once('SIGTERM', () => process.exit(0));
