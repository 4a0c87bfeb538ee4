#!/usr/bin/env node
/**
 * The `veloflux` command:
 *   veloflux [--config FILE]   run (FILE defaults to $VELOFLUX_CONFIG, then ./veloflux.yaml)
 *   veloflux check FILE        validate FILE, print every problem with its path, exit 0 or 1
 */
import { VELOFLUX_VERSION } from './shared/version.js';
import { ConfigError, loadConfigFile } from './shared/config/load.js';
import { runPrimary } from './primary/main.js';

const USAGE = `usage: veloflux [--config FILE]
       veloflux check FILE
       veloflux --version`;

async function check(file: string | undefined): Promise<number> {
  if (file === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  try {
    const config = await loadConfigFile(file);
    process.stdout.write(`${file}: configuration is valid (${config.pools.length} pool(s), ${config.routes.length} route(s))\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'check') return process.exit(await check(argv[1]));
  if (argv[0] === '--version' || argv[0] === '-v') return void process.stdout.write(`${VELOFLUX_VERSION}\n`);
  if (argv[0] === '--help' || argv[0] === '-h') return void process.stdout.write(`${USAGE}\n`);
  let config = process.env.VELOFLUX_CONFIG || 'veloflux.yaml';
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config' || argv[i] === '-c') config = argv[++i] ?? '';
    else if (argv[i]!.startsWith('--config=')) config = argv[i]!.slice('--config='.length);
    else {
      process.stderr.write(`veloflux: unknown argument "${argv[i]}"\n${USAGE}\n`);
      process.exit(2);
    }
  }
  await runPrimary(config);
}

await main(process.argv.slice(2));
