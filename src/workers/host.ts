/**
 * The worker's side of the snapshot protocol (the primary's Supervisor holds the other side).
 * The first snapshot starts serving. A change arrives in two phases, so a change one worker
 * cannot build is applied on none: `prepare` builds a runtime and holds it (answering
 * `prepared` or `snapshot-failed`), `commit` swaps it in, `abort` drops it. A plain `snapshot`
 * after the first (a worker that missed a change) is built and swapped in at once.
 *
 * Building is the caller's (`HostedServer.build`); this class only decides what happens with a
 * build and what the primary is told, so it is tested without forking a process.
 */
import type { ConfigSnapshot, WorkerMessage } from '../shared/ipc.js';
import { workerMessage } from '../shared/ipc.js';
import type { Logger } from '../shared/log.js';

/** What one snapshot built: a runtime and what goes with it, waiting to serve. */
export interface Built {
  readonly version: number;
}

/** What the host drives: building, the first start, later swaps. */
export interface HostedServer<B extends Built> {
  /** Builds everything `snapshot` needs; throws when it cannot be served here (a broken file...). */
  build(snapshot: ConfigSnapshot): B;
  /** The first build: start listening (the server answers `ready` itself once bound). */
  serve(snapshot: ConfigSnapshot, built: B): void;
  /** A later build replaces the serving one (requests in flight keep theirs). */
  swapIn(built: B): void;
}

export interface HostLink {
  send(message: WorkerMessage): void;
  /** Ends the worker process (the initial config cannot be served). */
  exit(code: number): void;
}

export class SnapshotHost<B extends Built> {
  readonly #server: HostedServer<B>;
  readonly #link: HostLink;
  readonly #workerId: number;
  readonly #log: Logger;
  #serving = false;
  /** What `prepare` built, waiting for the primary's commit or abort. */
  #prepared: B | undefined;

  constructor(server: HostedServer<B>, link: HostLink, workerId: number, log: Logger) {
    this.#server = server;
    this.#link = link;
    this.#workerId = workerId;
    this.#log = log;
  }

  get serving(): boolean {
    return this.#serving;
  }

  snapshot(snapshot: ConfigSnapshot): void {
    const built = this.#tryBuild(snapshot);
    if (built === undefined) return;
    if (this.#serving) return this.#swapIn(built);
    this.#serving = true;
    this.#server.serve(snapshot, built);
  }

  prepare(snapshot: ConfigSnapshot): void {
    this.#prepared = undefined;
    const built = this.#tryBuild(snapshot);
    if (built === undefined) return;
    this.#prepared = built;
    this.#link.send(workerMessage({ type: 'prepared', configVersion: snapshot.version }));
  }

  commit(version: number): void {
    const built = this.#prepared;
    this.#prepared = undefined;
    if (built === undefined || built.version !== version || !this.#serving) {
      this.#link.send(workerMessage({ type: 'snapshot-failed', configVersion: version, reason: 'nothing prepared for this version' }));
      return;
    }
    this.#swapIn(built);
  }

  abort(version: number): void {
    if (this.#prepared?.version === version) this.#prepared = undefined;
  }

  #swapIn(built: B): void {
    this.#server.swapIn(built);
    this.#link.send(workerMessage({ type: 'snapshot-applied', configVersion: built.version }));
  }

  /** Builds a snapshot, or reports why it could not and returns undefined. */
  #tryBuild(snapshot: ConfigSnapshot): B | undefined {
    try {
      return this.#server.build(snapshot);
    } catch (err) {
      this.#log.error({ err, configVersion: snapshot.version }, 'could not build runtime');
      const reason = (err as Error).message;
      // One of the first workers cannot build the config VeloFlux starts with (a missing
      // certificate or CA file): say so and stop, rather than never becoming ready. Replacements
      // (respawns, rolling restarts: higher ids) only fail themselves; the others keep serving.
      if (!this.#serving && this.#isInitialWorker(snapshot)) {
        const code = (err as { code?: string }).code ?? 'VF_ERR_CONFIG_INVALID';
        this.#link.send(workerMessage({ type: 'fatal', code, message: `cannot start serving: ${reason}` }));
        this.#link.exit(1);
        return undefined;
      }
      this.#link.send(workerMessage({ type: 'snapshot-failed', configVersion: snapshot.version, reason }));
      return undefined;
    }
  }

  #isInitialWorker(snapshot: ConfigSnapshot): boolean {
    const { workers } = snapshot.config.server;
    return snapshot.version === 1 && typeof workers === 'number' && this.#workerId <= workers;
  }
}
