/**
 * The key that signs sticky-session cookies: VELOFLUX_STICKY_SECRET when set (share it between
 * VeloFlux hosts behind one balancer), otherwise generated once and kept in
 * `<dataDir>/sticky-secret` (0600) so sessions survive restarts.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { readFileIfExists, writeFileAtomic } from '../shared/atomic-file.js';
import { VelofluxError } from '../shared/errors.js';

const MIN_LENGTH = 32;

export async function resolveStickySecret(dataDir: string, env: NodeJS.ProcessEnv): Promise<string> {
  const fromEnv = env.VELOFLUX_STICKY_SECRET?.trim();
  if (fromEnv) {
    if (fromEnv.length < MIN_LENGTH) throw new VelofluxError('VF_ERR_CONFIG_INVALID', `VELOFLUX_STICKY_SECRET must be at least ${MIN_LENGTH} characters`);
    return fromEnv;
  }
  const file = join(dataDir, 'sticky-secret');
  const stored = (await readFileIfExists(file))?.trim();
  if (stored) return stored;
  const secret = randomBytes(32).toString('base64url');
  await writeFileAtomic(file, `${secret}\n`);
  return secret;
}
