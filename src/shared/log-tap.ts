/**
 * A pino destination that writes every line to stdout unchanged and also hands the lines at
 * info level or above to one optional sink: the worker's log forwarder, or the primary's recent
 * log ring, which GET /api/admin/logs reads. With no sink attached it is stdout and one branch.
 */
import { pino, type DestinationStream } from 'pino';

/** pino's numeric level for info. */
export const INFO_LEVEL = 30;

/** Receives one JSON line (no trailing newline). Must not log: it runs inside the logger's write. */
export type LogSink = (line: string) => void;

export class LogTap implements DestinationStream {
  /**
   * pino sets `lastLevel` (and lastObj, lastMsg...) on a destination with this symbol before each
   * write, so the level is read without parsing the line (pino/lib/multistream.js does the same).
   */
  readonly [pino.symbols.needsMetadataGsym] = true as const;
  lastLevel = 0;
  readonly #open: () => DestinationStream;
  /** Opened on first use, so importing the logger module opens nothing. */
  #stream: DestinationStream | undefined;
  #sink: LogSink | undefined;

  constructor(open: () => DestinationStream) {
    this.#open = open;
  }

  get #out(): DestinationStream {
    return (this.#stream ??= this.#open());
  }

  /** Lines logged from now on also go to `sink`; replaces any previous one. */
  attach(sink: LogSink): void {
    this.#sink = sink;
  }

  detach(): void {
    this.#sink = undefined;
  }

  write(line: string): void {
    this.#out.write(line);
    const sink = this.#sink;
    if (sink === undefined || this.lastLevel < INFO_LEVEL) return;
    // A sink that throws must not take the log line (or the caller) down with it.
    try {
      sink(line.endsWith('\n') ? line.slice(0, -1) : line);
    } catch {
      // Nothing to report to: logging from here would come back into this write.
    }
  }

  /** logger.flush() reaches the stdout stream through these (the SonicBoom also flushes itself on exit). */
  flush(cb?: (err?: Error) => void): void {
    const out = this.#stream as (DestinationStream & { flush?: (cb: (err?: Error) => void) => void }) | undefined;
    if (typeof out?.flush === 'function') out.flush(cb ?? (() => {}));
    else cb?.();
  }

  flushSync(): void {
    (this.#stream as (DestinationStream & { flushSync?: () => void }) | undefined)?.flushSync?.();
  }
}

/**
 * The stdout destination pino would pick itself (pino/lib/tools.js normalizeArgs): an
 * asynchronous SonicBoom on fd 1, flushed on exit, or process.stdout when something has replaced
 * its write method; so the bytes and their timing are what they were without the tap.
 */
function stdoutDestination(): DestinationStream {
  const tampered = process.stdout.write !== (process.stdout.constructor as { prototype: NodeJS.WriteStream }).prototype.write;
  return tampered ? process.stdout : pino.destination({ dest: process.stdout.fd || 1, sync: false });
}

/** The process's one tap over stdout; every logger createLogger makes writes through it. */
export const logTap = new LogTap(stdoutDestination);
