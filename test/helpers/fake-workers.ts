/**
 * Worker peers for in-process tests of the primary: each speaks the worker side of the IPC
 * protocol (src/shared/ipc.ts) the way workers/main.ts does — hello once listening, ready on its
 * first snapshot, prepare / commit / abort, drain and exit on shutdown — asynchronously, as over a
 * real channel. It is the IPC boundary driven by the test (like a raw TCP peer in network tests),
 * not a stand-in for the supervisor: a test steers a peer (refuse a snapshot, stay silent, hold
 * its readiness, crash) and reads what the primary sent it.
 */
import { workerMessage, type ConfigSnapshot, type PrimaryMessage, type WorkerMessage } from '../../src/shared/ipc.js';
import type { WorkerFactory, WorkerProcess } from '../../src/primary/worker-process.js';

export const FAKE_PORTS = { httpPort: 18080, apiPort: 19090 } as const;

const later = (fn: () => void) => void setImmediate(fn);

export class FakeWorker implements WorkerProcess {
  readonly id: number;
  readonly pid: number;
  /** Everything the primary sent, in order. */
  readonly received: PrimaryMessage[] = [];
  /** Signals the primary sent with kill(). */
  readonly killedWith: NodeJS.Signals[] = [];
  /** Why this worker cannot build a snapshot (prepare, or its first one); undefined: it can. */
  refuse: (snapshot: ConfigSnapshot) => string | undefined = () => undefined;
  /** Why this worker cannot swap in what it prepared; undefined: it can. */
  refuseCommit: string | undefined;
  /** False: prepare and commit get no answer at all (a hung worker). */
  answers = true;
  /** False: a shutdown is ignored (the worker never exits by itself). */
  obeysShutdown = true;
  /** True: the first snapshot is built but `ready` waits for release() (a slow start). */
  holdReady = false;
  /** The snapshot version this worker serves (0 before its first one). */
  configVersion = 0;
  #journal: string[];
  #connected = true;
  #exited = false;
  #serving = false;
  #held: ConfigSnapshot | undefined;
  #prepared: ConfigSnapshot | undefined;
  #onMessage: ((message: unknown) => void)[] = [];
  #onExit: ((code: number | null, signal: string | null) => void)[] = [];
  /** Holds the event loop open while connected, as a real IPC channel does. */
  readonly #channel = setInterval(() => {}, 60_000);

  constructor(id: number, journal: string[]) {
    this.id = id;
    this.pid = 40_000 + id;
    this.#journal = journal;
    journal.push(`${id} started`);
    // Like workers/main.ts: hello once its message listener is installed.
    later(() => this.say(workerMessage({ type: 'hello' })));
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** The types of the messages received, in order. */
  types(): string[] {
    return this.received.map((m) => m.type);
  }

  // --- WorkerProcess: what the supervisor calls ---

  send(message: PrimaryMessage): void {
    if (!this.#connected) throw new Error(`worker ${this.id}: send on a closed channel (${message.type})`);
    this.received.push(message);
    this.#journal.push(`${this.id} <- ${message.type}`);
    later(() => this.#handle(message));
  }

  isConnected(): boolean {
    return this.#connected;
  }

  kill(signal: NodeJS.Signals): void {
    this.killedWith.push(signal);
    this.crash(null, signal);
  }

  onMessage(listener: (message: unknown) => void): void {
    this.#onMessage.push(listener);
  }

  onExit(listener: (code: number | null, signal: string | null) => void): void {
    this.#onExit.push(listener);
  }

  // --- what the test does as the worker ---

  /** Sends a message up to the primary. */
  say(message: WorkerMessage | Record<string, unknown>): void {
    if (!this.#connected) return;
    if ('type' in message && typeof message.type === 'string') this.#journal.push(`${this.id} -> ${message.type}`);
    for (const listener of this.#onMessage) listener(message);
  }

  /** A held start (holdReady) now listens and says ready. */
  release(): void {
    const snapshot = this.#held;
    this.#held = undefined;
    if (snapshot !== undefined) this.#ready(snapshot);
  }

  /** The process dies: the channel closes at once, the exit is reported on the next turn. */
  crash(code: number | null = 1, signal: string | null = null): void {
    if (this.#exited || !this.#connected) return;
    this.#connected = false;
    clearInterval(this.#channel);
    later(() => {
      this.#exited = true;
      this.#journal.push(`${this.id} exited`);
      for (const listener of this.#onExit) listener(code, signal);
    });
  }

  #handle(message: PrimaryMessage): void {
    if (!this.#connected) return;
    switch (message.type) {
      case 'snapshot': {
        const reason = this.refuse(message.snapshot);
        if (reason !== undefined) return this.say(workerMessage({ type: 'snapshot-failed', configVersion: message.snapshot.version, reason }));
        if (this.#serving) {
          this.configVersion = message.snapshot.version;
          return this.say(workerMessage({ type: 'snapshot-applied', configVersion: this.configVersion }));
        }
        if (this.holdReady) this.#held = message.snapshot;
        else this.#ready(message.snapshot);
        return;
      }
      case 'prepare': {
        if (!this.answers) return;
        this.#prepared = undefined;
        const reason = this.refuse(message.snapshot);
        if (reason !== undefined) return this.say(workerMessage({ type: 'snapshot-failed', configVersion: message.snapshot.version, reason }));
        this.#prepared = message.snapshot;
        return this.say(workerMessage({ type: 'prepared', configVersion: message.snapshot.version }));
      }
      case 'commit': {
        if (!this.answers) return;
        const prepared = this.#prepared;
        this.#prepared = undefined;
        if (prepared?.version !== message.configVersion || this.refuseCommit !== undefined) {
          const reason = this.refuseCommit ?? 'nothing prepared for this version';
          return this.say(workerMessage({ type: 'snapshot-failed', configVersion: message.configVersion, reason }));
        }
        this.configVersion = prepared.version;
        return this.say(workerMessage({ type: 'snapshot-applied', configVersion: this.configVersion }));
      }
      case 'abort':
        if (this.#prepared?.version === message.configVersion) this.#prepared = undefined;
        return;
      case 'shutdown':
        if (this.obeysShutdown) this.crash(0, null);
        return;
      default:
        return;
    }
  }

  #ready(snapshot: ConfigSnapshot): void {
    this.#serving = true;
    this.configVersion = snapshot.version;
    this.say(workerMessage({ type: 'ready', configVersion: snapshot.version, ...FAKE_PORTS }));
  }
}

/** The factory a Supervisor is given: numbered workers (from 1, like node:cluster), all kept for inspection. */
export class FakeWorkers {
  /** Every worker started, in order, dead ones included. */
  readonly all: FakeWorker[] = [];
  /** What happened, in order, across all workers: `3 started`, `3 <- shutdown`, `3 -> ready`, `3 exited`. */
  readonly journal: string[] = [];
  /** Applied to each worker as it starts, before it says hello. */
  configure: (worker: FakeWorker) => void = () => {};
  #nextId = 1;

  readonly factory: WorkerFactory = () => {
    const worker = new FakeWorker(this.#nextId++, this.journal);
    this.configure(worker);
    this.all.push(worker);
    return worker;
  };

  /** Workers that have not exited. */
  live(): FakeWorker[] {
    return this.all.filter((w) => !w.exited);
  }

  byId(id: number): FakeWorker {
    const worker = this.all.find((w) => w.id === id);
    if (worker === undefined) throw new Error(`no worker ${id}`);
    return worker;
  }
}
