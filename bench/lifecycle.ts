// How every harness runs its main: child processes are reaped and the temp dir removed on
// every way out (normal end, error, Ctrl-C, SIGTERM/SIGHUP; a second Ctrl-C exits at once).
import { rmSync } from 'node:fs';
import type { ChildRegistry } from './children.js';

export interface Harness {
  /** Prefix of messages, e.g. "bench:scheduling". */
  readonly name: string;
  readonly children: ChildRegistry;
  /** The harness's temp dir, if it made one yet. */
  readonly tmpDir: () => string | undefined;
  readonly main: (interrupted: () => boolean) => Promise<number>;
}

const CLEAR_LINE = process.stderr.isTTY ? '\r\x1b[2K' : '';

export function runHarness({ name, children, tmpDir, main }: Harness): void {
  let interrupted = false;
  const removeTmpDir = () => {
    const dir = tmpDir();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', () => {
    children.killAllNow();
    removeTmpDir();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (interrupted) process.exit(130); // second Ctrl-C: the exit hook SIGKILLs what is left
      interrupted = true;
      children.close(); // the main loop sees its load generator die; it must not start the next one
      process.stderr.write(`${CLEAR_LINE}${name}: ${signal}, stopping child processes\n`);
      void children.stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
  main(() => interrupted).then(
    (code) => {
      removeTmpDir();
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${CLEAR_LINE}${name}: ${err instanceof Error ? err.message : String(err)}\n`);
      void children.stopAll().finally(() => process.exit(1));
    },
  );
}
