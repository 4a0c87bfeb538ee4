/** VeloFlux's version, from package.json (read once; the file sits two levels above dist/src/shared). */
import { readFileSync } from 'node:fs';

export const VELOFLUX_VERSION: string = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
