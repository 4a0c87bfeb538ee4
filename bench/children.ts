// Child processes of the harness (origin, proxies, load generator): spawned in their own process
// group, optionally pinned to one CPU with taskset, and always reaped, even on Ctrl-C.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface SpawnSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Pin the process (and everything it forks) to this CPU with `taskset -c`. */
  readonly cpu?: number | undefined;
  readonly cwd?: string;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const STDERR_TAIL_BYTES = 8192;
const STOP_GRACE_MS = 3000;

export class Child {
  readonly name: string;
  readonly exited: Promise<ExitInfo>;
  #proc: ChildProcess;
  #stderrTail = '';
  #exit: ExitInfo | undefined;
  #lineListeners = new Set<(line: string) => void>();

  constructor(spec: SpawnSpec) {
    this.name = spec.name;
    const [command, args] =
      spec.cpu === undefined
        ? [spec.command, [...spec.args]]
        : ['taskset', ['-c', String(spec.cpu), spec.command, ...spec.args]];
    // detached: a process group of its own, so stop() reaches grandchildren too (nginx workers,
    // VeloFlux cluster workers) and a terminal Ctrl-C reaches only the harness, which cleans up.
    this.#proc = spawn(command, args, { cwd: spec.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      this.#proc.once('error', (err) => {
        this.#stderrTail += `\nspawn ${command}: ${err.message}`;
        this.#exit = { code: null, signal: null };
        resolve(this.#exit);
      });
      this.#proc.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
    this.#proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderrTail = (this.#stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
    });
    createInterface({ input: this.#proc.stdout! }).on('line', (line) => {
      for (const listener of this.#lineListeners) listener(line);
    });
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  get hasExited(): boolean {
    return this.#exit !== undefined;
  }

  get stderrTail(): string {
    return this.#stderrTail.trim();
  }

  onStdoutLine(listener: (line: string) => void): () => void {
    this.#lineListeners.add(listener);
    return () => this.#lineListeners.delete(listener);
  }

  /** Resolves with the first JSON stdout line `accept` returns a value for. */
  waitForJsonLine<T>(accept: (msg: Record<string, unknown>) => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const finish = (fn: () => void): void => {
        clearTimeout(timer);
        off();
        fn();
      };
      const timer = setTimeout(
        () => finish(() => reject(this.failure(`no answer within ${timeoutMs / 1000} s`))),
        timeoutMs,
      );
      const off = this.onStdoutLine((line) => {
        let msg: unknown;
        try {
          msg = JSON.parse(line);
        } catch {
          return;
        }
        if (typeof msg !== 'object' || msg === null) return;
        const value = accept(msg as Record<string, unknown>);
        if (value !== undefined) finish(() => resolve(value));
      });
      void this.exited.then((exit) => finish(() => reject(this.failure(`exited (${describeExit(exit)})`))));
    });
  }

  failure(what: string): Error {
    const tail = this.stderrTail;
    return new Error(`${this.name} ${what}${tail ? `; its stderr:\n${indent(tail)}` : ''}`);
  }

  /** SIGTERM the whole group, SIGKILL it after a grace period. */
  async stop(): Promise<void> {
    this.signalGroup('SIGTERM');
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((r) => setTimeout(r, STOP_GRACE_MS, true).unref()),
    ]);
    // Also after a clean exit: cluster or nginx workers may outlive their parent briefly.
    this.signalGroup('SIGKILL');
    if (timedOut) await this.exited;
  }

  signalGroup(signal: NodeJS.Signals): void {
    if (this.#proc.pid === undefined) return;
    try {
      process.kill(-this.#proc.pid, signal);
    } catch {
      // ESRCH: the group is already gone.
    }
  }
}

/** Every child the harness started, so one call reaps them all. */
export class ChildRegistry {
  #children = new Set<Child>();
  #closed = false;

  spawn(spec: SpawnSpec): Child {
    if (this.#closed) throw new Error(`not starting ${spec.name}: shutting down`);
    const child = new Child(spec);
    this.#children.add(child);
    return child;
  }

  async stop(child: Child): Promise<void> {
    await child.stop();
    this.#children.delete(child);
  }

  /** Refuse further spawns (on Ctrl-C, while the children are being stopped). */
  close(): void {
    this.#closed = true;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#children].map((c) => this.stop(c)));
  }

  /** Synchronous last resort for process 'exit', where nothing can be awaited. */
  killAllNow(): void {
    for (const child of this.#children) child.signalGroup('SIGKILL');
    this.#children.clear();
  }
}

export function describeExit(exit: ExitInfo): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
