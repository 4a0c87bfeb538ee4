/**
 * The admin API's bearer token: from VELOFLUX_ADMIN_TOKEN or the file named by
 * server.admin.tokenFile. Without one, VeloFlux generates a token and prints it once, but only
 * when the admin API is bound to loopback; anywhere else it refuses to start.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { VelofluxError } from '../../shared/errors.js';

export interface AdminToken {
  readonly value: string;
  readonly generated: boolean;
}

const MIN_LENGTH = 16;

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export async function resolveAdminToken(admin: { host: string; tokenFile?: string | undefined }, env: NodeJS.ProcessEnv): Promise<AdminToken> {
  let value = env.VELOFLUX_ADMIN_TOKEN?.trim();
  if (!value && admin.tokenFile !== undefined) value = (await readFile(admin.tokenFile, 'utf8')).trim();
  if (value) {
    if (value.length < MIN_LENGTH) throw new VelofluxError('VF_ERR_CONFIG_INVALID', `the admin token must be at least ${MIN_LENGTH} characters`);
    return { value, generated: false };
  }
  if (!isLoopback(admin.host)) {
    throw new VelofluxError(
      'VF_ERR_CONFIG_INVALID',
      `the admin API would listen on ${admin.host} without a token: set VELOFLUX_ADMIN_TOKEN or server.admin.tokenFile, or bind it to 127.0.0.1`,
    );
  }
  return { value: randomBytes(24).toString('base64url'), generated: true };
}

/** Compares in constant time (both sides hashed to equal length first). */
export function tokenMatches(expected: string, presented: string): boolean {
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(presented).digest();
  return timingSafeEqual(a, b);
}
