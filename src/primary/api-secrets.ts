/**
 * The main API's secrets, resolved once in the primary and handed to the workers in the config
 * snapshot: the access-token signing key (VELOFLUX_JWT_SECRET or server.api.jwtSecretFile; at
 * least 32 bytes, or VeloFlux refuses to start) and the bearer token Alertmanager presents to the
 * alerts webhook (VELOFLUX_ALERT_WEBHOOK_TOKEN or server.api.alertWebhookTokenFile; without one
 * the webhook is off). Neither ever comes from the repository.
 *
 * Without a JWT secret a single instance generates one and keeps it in `<dataDir>/jwt-secret`
 * (0600), so sessions survive restarts; with Redis every instance must verify every other's
 * tokens, so the secret has to be given explicitly.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileIfExists, writeFileAtomic } from '../shared/atomic-file.js';
import type { ServerConfig } from '../shared/config/schema.js';
import type { ApiSecrets } from '../shared/ipc.js';
import { VelofluxError } from '../shared/errors.js';

const MIN_JWT_SECRET_BYTES = 32;
const MIN_WEBHOOK_TOKEN_LENGTH = 16;
const HOW_TO_GENERATE = 'generate one with `openssl rand -base64 48`';

async function fromEnvOrFile(env: string | undefined, file: string | undefined): Promise<{ value: string; from: string } | undefined> {
  const fromEnv = env?.trim();
  if (fromEnv) return { value: fromEnv, from: 'the environment' };
  if (file === undefined) return undefined;
  const fromFile = (await readFile(file, 'utf8')).trim();
  return fromFile ? { value: fromFile, from: file } : undefined;
}

export async function resolveApiSecrets(server: ServerConfig, env: NodeJS.ProcessEnv): Promise<ApiSecrets> {
  let jwt = await fromEnvOrFile(env.VELOFLUX_JWT_SECRET, server.api.jwtSecretFile);
  if (jwt === undefined) {
    if (server.redis !== undefined) {
      throw new VelofluxError('VF_ERR_CONFIG_INVALID', `with server.redis every instance must sign API tokens with the same key: set VELOFLUX_JWT_SECRET or server.api.jwtSecretFile (${HOW_TO_GENERATE})`);
    }
    const file = join(server.dataDir, 'jwt-secret');
    const stored = (await readFileIfExists(file))?.trim();
    jwt = { value: stored || randomBytes(48).toString('base64url'), from: file };
    if (!stored) await writeFileAtomic(file, `${jwt.value}\n`);
  }
  if (Buffer.byteLength(jwt.value) < MIN_JWT_SECRET_BYTES) {
    throw new VelofluxError('VF_ERR_CONFIG_INVALID', `the API token signing secret from ${jwt.from} is ${Buffer.byteLength(jwt.value)} bytes; at least ${MIN_JWT_SECRET_BYTES} are needed (${HOW_TO_GENERATE})`);
  }
  const webhook = await fromEnvOrFile(env.VELOFLUX_ALERT_WEBHOOK_TOKEN, server.api.alertWebhookTokenFile);
  if (webhook !== undefined && webhook.value.length < MIN_WEBHOOK_TOKEN_LENGTH) {
    throw new VelofluxError('VF_ERR_CONFIG_INVALID', `the alert webhook token from ${webhook.from} must be at least ${MIN_WEBHOOK_TOKEN_LENGTH} characters`);
  }
  return { jwtSecret: jwt.value, ...(webhook !== undefined ? { alertWebhookToken: webhook.value } : {}) };
}
