/**
 * The access log: one JSON line per request, written asynchronously (pino over an async
 * destination) so a slow stdout never blocks the event loop. Off, sampled or all, per
 * `server.accessLog`; disabled costs one branch per request.
 */
import { pino, type Logger } from 'pino';
import cluster from 'node:cluster';

/** Who ended the exchange. */
export type Termination = 'complete' | 'client' | 'upstream' | 'timeout' | 'proxy';

export interface AccessRecord {
  requestId: string;
  method: string;
  /** HTTP/1.0, HTTP/1.1 or HTTP/2: how the client spoke. */
  protocol: string;
  route: string;
  pool: string;
  backend: string;
  status: number;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
  client: string;
  termination: Termination;
}

export class AccessLog {
  #logger: Logger | undefined;
  #rate = 0;

  configure(settings: { mode: 'off' | 'sampled' | 'all'; sampleRate: number }): void {
    this.#rate = settings.mode === 'off' ? 0 : settings.mode === 'all' ? 1 : settings.sampleRate;
    if (this.#rate > 0 && this.#logger === undefined) {
      this.#logger = pino(
        { base: { type: 'access', worker: cluster.worker?.id }, messageKey: 'msg', timestamp: pino.stdTimeFunctions.isoTime },
        pino.destination({ dest: 1, sync: false }),
      );
    }
  }

  get enabled(): boolean {
    return this.#rate > 0;
  }

  write(record: AccessRecord): void {
    if (this.#rate < 1 && Math.random() >= this.#rate) return;
    this.#logger!.info(record);
  }

  /** Writes what is buffered (on shutdown). */
  flush(): void {
    this.#logger?.flush();
  }
}

