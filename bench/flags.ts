// Command-line flags shared by every harness: strict parsing, whole numbers and lists checked the
// same way, and one answer to --help and to a bad flag (usage on stdout / stderr, exit 0 / 2).
import { parseArgs, type ParseArgsConfig } from 'node:util';

type FlagSpecs = NonNullable<ParseArgsConfig['options']>;

export class OptionsError extends Error {
  override readonly name = 'OptionsError';
}

/** node's parseArgs, strict and without positionals; its errors become OptionsError. */
export function parseFlags<const O extends FlagSpecs>(args: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new OptionsError((err as Error).message);
  }
}

/** The flags of the harnesses that compare proxies one at a time (https, websocket). */
export function comparisonFlags(targets: readonly string[]) {
  return {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    targets: { type: 'string', default: targets.join(',') },
    mode: { type: 'string', default: 'per-core' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  } as const;
}

export function wholeNumber(value: string, flag: string, min: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min) throw new OptionsError(`${flag}: expected a whole number >= ${min}, got "${value}"`);
  return Number(value);
}

export function list(value: string, flag: string): string[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new OptionsError(`${flag}: empty list`);
  return items;
}

/**
 * Runs `parse` on the process arguments. --help prints `usage` and a bad flag prints the problem
 * and `usage`; both return the exit code (0, 2) instead of options.
 */
export function optionsOrExitCode<T>(harness: string, usage: string, parse: (argv: readonly string[]) => T | 'help'): T | { exitCode: number } {
  try {
    const parsed = parse(process.argv.slice(2));
    if (parsed !== 'help') return parsed;
    process.stdout.write(usage);
    return { exitCode: 0 };
  } catch (err) {
    if (!(err instanceof OptionsError)) throw err;
    process.stderr.write(`${harness}: ${err.message}\n\n${usage}`);
    return { exitCode: 2 };
  }
}
