/**
 * Forks and watches the workers: hands each the committed snapshot, applies new snapshots to
 * every worker or to none (two-phase: send, collect acks, roll back on any failure), respawns a
 * crashed worker with exponential backoff (logging why it died), replaces workers one at a time
 * on a rolling restart, and on shutdown tells every worker to drain and waits for them to exit.
 */
import type { SecurityCount, SecurityEvent } from '../shared/security-events.js';
import type { Logger } from '../shared/log.js';
import type { RpcMethod } from '../shared/rpc.js';
import { VelofluxError } from '../shared/errors.js';
import type { RateUsage } from '../shared/rate-limit-report.js';
import { isVelofluxMessage, primaryMessage, type ConfigSnapshot, type LogLevel, type PrimaryMessage, type StateRequest, type WorkerMessage, type WorkerStats } from '../shared/ipc.js';
import type { WorkerFactory, WorkerProcess as Worker } from './worker-process.js';

const BACKOFF_START_MS = 250;
const BACKOFF_MAX_MS = 30_000;
/** A worker that lived this long resets the crash streak. */
const STABLE_AFTER_MS = 60_000;
/** How long a worker may take to build and swap a runtime before the change counts as failed. */
const APPLY_TIMEOUT_MS = 10_000;
/** How long a replacement worker may take to start during a rolling restart. */
const START_TIMEOUT_MS = 15_000;

/** The ports the workers bound (`httpsPort` when HTTPS is configured). */
export interface WorkerPorts {
  httpPort: number;
  apiPort: number;
  httpsPort: number | undefined;
}

export interface SupervisorEvents {
  /** Every worker has built its runtime and listens. */
  onAllReady(ports: WorkerPorts): void;
  /** A worker could not start in a way respawning cannot fix (port taken, permission). */
  onFatal(message: string): void;
  /** A worker saw a backend fail repeatedly (passive outlier detection). */
  onOutlier(backendId: string, consecutiveFailures: number): void;
  /** A worker's rate-limit demand since its last report (the coordinator answers with sendTo). */
  onRateUsage?(workerId: number, usage: RateUsage[]): void;
  /** A worker (re)started and asked for its snapshot: the moment to send it state replicas. */
  onWorkerHello?(workerId: number): void;
  /** A worker called the primary (answer with sendTo and an rpc-reply). */
  onRpcRequest?(workerId: number, requestId: number, method: RpcMethod, params: unknown): void;
  /** A worker asked for a state store operation (answer with sendTo and a state-reply). */
  onStateRequest?(workerId: number, requestId: number, request: StateRequest): void;
  /** A batch of a worker's log lines (JSON text, info and above) and how many it had to drop before it. */
  onLogLines?(workerId: number, lines: string[], dropped: number): void;
  /** A worker's security events since its last batch, how many it dropped, and the counts of all of them. */
  onSecurityEvents?(workerId: number, events: SecurityEvent[], dropped: number, counts: SecurityCount[]): void;
}

export interface SupervisorOptions {
  /** Starts one worker (clusterWorkers() in production; a test passes its own IPC peers). */
  readonly workers: WorkerFactory;
  /** Ms since the epoch: how long a worker lived decides whether its crash continues a streak. */
  readonly clock?: () => number;
  /** How long a worker may take to build (or swap in) a runtime before the change counts as failed. */
  readonly applyTimeoutMs?: number;
  /** How long a replacement worker may take to start during a rolling restart. */
  readonly startTimeoutMs?: number;
}

/** Before start(): no worker exists, so nothing can call these. */
const NO_EVENTS: SupervisorEvents = { onAllReady: () => {}, onFatal: () => {}, onOutlier: () => {} };

interface WorkerState {
  readonly startedAt: number;
  ready: boolean;
  /** Being replaced or stopped on purpose: its exit is not a crash. */
  retiring: boolean;
  /** Snapshot version the worker last reported running. */
  configVersion: number;
  stats: WorkerStats | undefined;
  onReady: (() => void) | undefined;
  /** Settles once the process has exited (and the supervisor has handled it). */
  readonly exited: Promise<void>;
}

interface PendingApply {
  readonly version: number;
  /** The answer that counts as success in this phase. */
  readonly expect: 'prepared' | 'snapshot-applied';
  readonly waiting: Set<Worker>;
  readonly failures: string[];
  /** Workers that answered with `expect`. */
  readonly applied: Set<Worker>;
  readonly failed: Set<Worker>;
  done: () => void;
}

export interface WorkerView {
  id: number;
  pid: number | undefined;
  ready: boolean;
  uptimeMs: number;
  stats: WorkerStats | undefined;
}

export class Supervisor {
  #committed: ConfigSnapshot;
  #nextVersion: number;
  readonly #log: Logger;
  #events: SupervisorEvents = NO_EVENTS;
  readonly #startWorker: WorkerFactory;
  readonly #clock: () => number;
  readonly #applyTimeoutMs: number;
  readonly #startTimeoutMs: number;
  readonly #workers = new Map<Worker, WorkerState>();
  readonly #target: number;
  /** Respawns waiting out their backoff; cancelled by shutdown. */
  readonly #respawns = new Set<NodeJS.Timeout>();
  #crashStreak = 0;
  #stopping = false;
  #announcedReady = false;
  #pending: PendingApply | undefined;
  #restarting = false;
  /** The last stats of every exited worker, so cluster-wide counters never go backwards. */
  readonly retiredStats: WorkerStats[] = [];
  /** Workers respawned after dying on their own (not replaced on purpose). */
  restarts = 0;
  /** Latest active health check results, sent to every worker (and to each new one). */
  #health: Record<string, boolean> = {};
  #logLevel: LogLevel | undefined;

  constructor(snapshot: ConfigSnapshot, log: Logger, options: SupervisorOptions) {
    this.#committed = snapshot;
    this.#nextVersion = snapshot.version + 1;
    this.#log = log;
    this.#target = snapshot.config.server.workers as number;
    this.#startWorker = options.workers;
    this.#clock = options.clock ?? Date.now;
    this.#applyTimeoutMs = options.applyTimeoutMs ?? APPLY_TIMEOUT_MS;
    this.#startTimeoutMs = options.startTimeoutMs ?? START_TIMEOUT_MS;
  }

  get committed(): ConfigSnapshot {
    return this.#committed;
  }

  /** Snapshot versions are assigned here so they only ever grow, rollbacks included. */
  nextVersion(): number {
    return this.#nextVersion++;
  }

  /** Forks the workers; what they report from now on goes to `events`. */
  start(events: SupervisorEvents): void {
    this.#events = events;
    for (let i = 0; i < this.#target; i++) this.#fork();
  }

  get expectedWorkers(): number {
    return this.#target;
  }

  workers(): WorkerView[] {
    return [...this.#workers].map(([worker, state]) => ({
      id: worker.id,
      pid: worker.pid,
      ready: state.ready,
      uptimeMs: this.#clock() - state.startedAt,
      stats: state.stats,
    }));
  }

  #fork(): Worker {
    const worker = this.#startWorker();
    let exited = () => {};
    const state: WorkerState = { startedAt: this.#clock(), ready: false, retiring: false, configVersion: 0, stats: undefined, onReady: undefined, exited: new Promise((resolve) => (exited = resolve)) };
    this.#workers.set(worker, state);
    worker.onMessage((message: unknown) => {
      if (isVelofluxMessage(message)) this.#onMessage(worker, message as WorkerMessage);
    });
    worker.onExit((code, signal) => {
      this.#onExit(worker, code, signal);
      exited();
    });
    return worker;
  }

  #onMessage(worker: Worker, message: WorkerMessage): void {
    const state = this.#workers.get(worker);
    if (state === undefined) return;
    switch (message.type) {
      case 'hello':
        worker.send(primaryMessage({ type: 'snapshot', snapshot: this.#committed }));
        worker.send(primaryMessage({ type: 'health', healthy: this.#health }));
        if (this.#logLevel !== undefined) worker.send(primaryMessage({ type: 'log-level', level: this.#logLevel }));
        this.#events.onWorkerHello?.(worker.id);
        return;
      case 'ready':
        state.ready = true;
        state.configVersion = message.configVersion;
        this.#log.info({ worker: worker.id, workerPid: worker.pid, configVersion: message.configVersion }, 'worker serving');
        // It started on an older snapshot while a change was being committed: catch it up.
        if (message.configVersion < this.#committed.version) worker.send(primaryMessage({ type: 'snapshot', snapshot: this.#committed }));
        state.onReady?.();
        if (!this.#announcedReady && this.#readyCount() >= this.#target) {
          this.#announcedReady = true;
          this.#events.onAllReady({ httpPort: message.httpPort, apiPort: message.apiPort, httpsPort: message.httpsPort });
        }
        return;
      case 'prepared':
        this.#ack(worker, message.configVersion, 'prepared', undefined);
        return;
      case 'snapshot-applied':
        state.configVersion = message.configVersion;
        this.#ack(worker, message.configVersion, 'snapshot-applied', undefined);
        return;
      case 'snapshot-failed':
        this.#ack(worker, message.configVersion, undefined, `worker ${worker.id}: ${message.reason}`);
        return;
      case 'stats':
        state.stats = message.stats;
        return;
      case 'outlier':
        this.#events.onOutlier(message.backendId, message.consecutiveFailures);
        return;
      case 'rate-usage':
        this.#events.onRateUsage?.(worker.id, message.usage);
        return;
      case 'log-lines':
        this.#events.onLogLines?.(worker.id, message.lines, message.dropped);
        return;
      case 'security-events':
        this.#events.onSecurityEvents?.(worker.id, message.events, message.dropped, message.counts);
        return;
      case 'rpc-request':
        this.#events.onRpcRequest?.(worker.id, message.requestId, message.method, message.params);
        return;
      case 'state-request':
        this.#events.onStateRequest?.(worker.id, message.requestId, message.request);
        return;
      case 'fatal':
        this.#stopping = true;
        this.#events.onFatal(message.message);
        return;
    }
  }

  #readyCount(): number {
    let n = 0;
    for (const state of this.#workers.values()) if (state.ready && !state.retiring) n++;
    return n;
  }

  #ack(worker: Worker, version: number, answer: PendingApply['expect'] | undefined, failure: string | undefined): void {
    const pending = this.#pending;
    if (pending === undefined || pending.version !== version) return;
    if (answer !== undefined && answer !== pending.expect) return;
    if (!pending.waiting.delete(worker)) return;
    if (failure === undefined) pending.applied.add(worker);
    else {
      pending.failures.push(failure);
      pending.failed.add(worker);
    }
    if (pending.waiting.size === 0) pending.done();
  }

  /** Sends to one worker by id; false when it is gone (its requests die with it). */
  sendTo(workerId: number, message: PrimaryMessage): boolean {
    for (const worker of this.#workers.keys()) {
      if (worker.id === workerId && worker.isConnected()) {
        worker.send(message);
        return true;
      }
    }
    return false;
  }

  /** Sends to every connected worker. */
  broadcast(message: PrimaryMessage): void {
    for (const worker of this.#workers.keys()) if (worker.isConnected()) worker.send(message);
  }

  /** Sets the application log level in every worker (and in workers started later). */
  broadcastLogLevel(level: LogLevel): void {
    this.#logLevel = level;
    for (const worker of this.#workers.keys()) {
      if (worker.isConnected()) worker.send(primaryMessage({ type: 'log-level', level }));
    }
  }

  /** Pushes backend availability (health checks and ejections) to every worker. */
  broadcastHealth(healthy: Record<string, boolean>): void {
    this.#health = healthy;
    for (const worker of this.#workers.keys()) {
      if (worker.isConnected()) worker.send(primaryMessage({ type: 'health', healthy }));
    }
  }

  /**
   * Applies `snapshot` on every serving worker, or on none, in two phases: every worker builds
   * the new runtime and holds it (prepare); only when all have, each swaps it in (commit) and this
   * resolves once all have swapped. If any worker fails to build it (or does not answer in time),
   * the others drop theirs (abort) and this throws VF_ERR_APPLY_FAILED with the reasons: no worker
   * ever served the change. Callers serialise changes.
   */
  async apply(snapshot: ConfigSnapshot): Promise<void> {
    const { failures, answered, silent } = await this.#broadcast(snapshot.version, 'prepared', primaryMessage({ type: 'prepare', snapshot }));
    if (failures.length > 0) {
      // A worker that did not answer in time may still build and hold the change: it is told too.
      for (const worker of [...answered, ...silent]) if (worker.isConnected()) worker.send(primaryMessage({ type: 'abort', configVersion: snapshot.version }));
      throw new VelofluxError('VF_ERR_APPLY_FAILED', `not applied on any worker: ${failures.join('; ')}`);
    }
    // From here the change is committed: a worker that dies now restarts on it.
    this.#committed = snapshot;
    const commit = await this.#broadcast(snapshot.version, 'snapshot-applied', primaryMessage({ type: 'commit', configVersion: snapshot.version }), answered);
    if (commit.failures.length > 0) this.#log.error({ failures: commit.failures }, 'workers failed to commit a prepared config; restarting them');
    for (const failure of commit.workersFailed) failure.kill('SIGTERM');
    // Workers that were still starting got the previous snapshot; bring them up to date.
    for (const [worker, state] of this.#workers) {
      if (state.configVersion < snapshot.version && !answered.includes(worker) && worker.isConnected()) {
        worker.send(primaryMessage({ type: 'snapshot', snapshot }));
      }
    }
  }

  /**
   * Sends `message` to `targets` (default: every serving worker) and resolves once each has
   * answered with `expect` or a failure, or the timeout passed.
   */
  async #broadcast(
    version: number,
    expect: PendingApply['expect'],
    message: ReturnType<typeof primaryMessage>,
    targets: Worker[] = this.#servingWorkers(),
  ): Promise<{ failures: string[]; answered: Worker[]; workersFailed: Worker[]; silent: Worker[] }> {
    const pending: PendingApply = { version, expect, waiting: new Set(targets), failures: [], applied: new Set(), failed: new Set(), done: () => {} };
    const finished = new Promise<void>((resolve) => (pending.done = resolve));
    const silent: Worker[] = [];
    this.#pending = pending;
    for (const worker of targets) worker.send(message);
    const timer = setTimeout(() => {
      for (const worker of pending.waiting) {
        silent.push(worker);
        pending.failures.push(`worker ${worker.id}: no answer within ${this.#applyTimeoutMs} ms`);
        pending.failed.add(worker);
      }
      pending.waiting.clear();
      pending.done();
    }, this.#applyTimeoutMs);
    if (targets.length === 0) pending.done();
    await finished;
    clearTimeout(timer);
    this.#pending = undefined;
    return { failures: pending.failures, answered: [...pending.applied], workersFailed: [...pending.failed], silent };
  }

  /** Ids of the workers serving now (ready, not being retired): the ones a rate limit is split over. */
  servingWorkerIds(): number[] {
    return this.#servingWorkers().map((worker) => worker.id);
  }

  #servingWorkers(): Worker[] {
    return [...this.#workers].filter(([worker, state]) => state.ready && !state.retiring && worker.isConnected()).map(([worker]) => worker);
  }

  /**
   * Replaces every worker, one at a time: a replacement is forked and must be serving before
   * the old worker is told to drain, so the listening socket always has a worker behind it.
   */
  async rollingRestart(deadlineMs: number): Promise<{ replaced: number }> {
    if (this.#restarting) throw new VelofluxError('VF_ERR_BUSY', 'a rolling restart is already running');
    this.#restarting = true;
    try {
      const old = [...this.#workers].filter(([, state]) => !state.retiring).map(([worker]) => worker);
      for (const worker of old) {
        if (this.#stopping) break;
        const replacement = this.#fork();
        await this.#whenReady(replacement);
        await this.#retire(worker, deadlineMs);
      }
      return { replaced: old.length };
    } finally {
      this.#restarting = false;
    }
  }

  #whenReady(worker: Worker): Promise<void> {
    const state = this.#workers.get(worker);
    if (state === undefined) return Promise.reject(new VelofluxError('VF_ERR_INTERNAL', `replacement worker ${worker.id} exited before serving`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new VelofluxError('VF_ERR_INTERNAL', `replacement worker ${worker.id} did not start within ${this.#startTimeoutMs} ms`)), this.#startTimeoutMs);
      state.onReady = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Tells one worker to drain within `deadlineMs` and resolves when it has exited. */
  async #retire(worker: Worker, deadlineMs: number): Promise<void> {
    const state = this.#workers.get(worker);
    // Gone already (its exit was handled).
    if (state === undefined) return;
    state.retiring = true;
    worker.send(primaryMessage({ type: 'shutdown', deadlineMs }));
    // Backstop: a worker that ignores the deadline is killed shortly after it.
    const backstop = setTimeout(() => worker.kill('SIGKILL'), deadlineMs + 2_000).unref();
    await state.exited;
    clearTimeout(backstop);
  }

  #onExit(worker: Worker, code: number | null, signal: string | null): void {
    const state = this.#workers.get(worker);
    this.#workers.delete(worker);
    if (state?.stats !== undefined) this.retiredStats.push(state.stats);
    if (this.#pending?.waiting.delete(worker)) {
      this.#pending.failures.push(`worker ${worker.id} exited during the change`);
      this.#pending.failed.add(worker);
      if (this.#pending.waiting.size === 0) this.#pending.done();
    }
    if (this.#stopping || state?.retiring) return;
    const lived = state === undefined ? 0 : this.#clock() - state.startedAt;
    this.#crashStreak = lived >= STABLE_AFTER_MS ? 1 : this.#crashStreak + 1;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** (this.#crashStreak - 1));
    this.#log.error({ worker: worker.id, workerPid: worker.pid, code, signal, livedMs: lived, respawnInMs: delay }, `worker died (${signal ?? `exit code ${code}`}); respawning`);
    const respawn = setTimeout(() => {
      this.#respawns.delete(respawn);
      if (this.#stopping) return;
      this.restarts++;
      this.#fork();
    }, delay);
    this.#respawns.add(respawn);
  }

  /** Asks every worker to drain within `deadlineMs`, resolves when all have exited. */
  async shutdown(deadlineMs: number): Promise<void> {
    this.#stopping = true;
    for (const respawn of this.#respawns) clearTimeout(respawn);
    this.#respawns.clear();
    await Promise.all([...this.#workers.keys()].map((worker) => this.#retire(worker, deadlineMs)));
  }
}
