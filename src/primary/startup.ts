/**
 * What start-up needs before any worker is forked: the config (the file plus the persisted
 * runtime changes, validated once) with the state store it names, and the secrets. A problem
 * here ends the process with its reason and exit 1; nothing has been started yet.
 */
import type { Logger } from '../shared/log.js';
import { ConfigError } from '../shared/config/load.js';
import type { VelofluxError } from '../shared/errors.js';
import type { ApiSecrets } from '../shared/ipc.js';
import { bootstrapAdmin } from '../shared/auth/users.js';
import { StateFileError } from '../shared/state/embedded-store.js';
import { AuditLog } from './audit-log.js';
import { ConfigController } from './config/config-controller.js';
import { openStateStore } from './state/state-store.js';
import { resolveAdminToken, type AdminToken } from './admin/token.js';
import { resolveStickySecret } from './sticky-secret.js';
import { resolveApiSecrets } from './api-secrets.js';

export interface StartupInputs {
  readonly controller: ConfigController;
  readonly token: AdminToken;
  readonly stickySecret: string;
  readonly apiSecrets: ApiSecrets;
  /** The main API's first admin, when this start created it (its password when generated). */
  readonly firstAdmin: { email: string; generatedPassword?: string } | undefined;
}

export function exitWith(message: string, log?: Logger): never {
  log?.fatal(message);
  process.stderr.write(`veloflux: ${message}\n`);
  process.exit(1);
}

export async function loadStartup(configPath: string, nodeId: string, log: Logger): Promise<StartupInputs> {
  let controller: ConfigController;
  try {
    controller = await ConfigController.load(configPath, (config) => openStateStore(config.server, nodeId, log), (dataDir) => new AuditLog(dataDir, log), log);
  } catch (err) {
    if (err instanceof ConfigError) exitWith(`invalid configuration\n${err.message}`);
    if (err instanceof StateFileError) exitWith(`unusable state file\n${err.message}`);
    throw err;
  }
  const { server } = controller.config;
  const token = await resolveAdminToken(server.admin, process.env).catch((err: Error) => exitWith(err.message, log));
  const stickySecret = await resolveStickySecret(server.dataDir, process.env).catch((err: Error) => exitWith(err.message, log));
  const apiSecrets = await resolveApiSecrets(server, process.env).catch((err: Error) => exitWith(err.message, log));
  // The main API's first admin (VELOFLUX_ADMIN_EMAIL / VELOFLUX_ADMIN_PASSWORD, or a generated password shown once).
  const firstAdmin = await bootstrapAdmin(controller.store, process.env, log).catch((err: VelofluxError) => {
    if (err.code === 'VF_ERR_CONFIG_INVALID') exitWith(err.message, log);
    log.warn({ err: err.message }, 'could not check for the first admin user (state store unavailable); restart once it is back to create one');
    return undefined;
  });
  return { controller, token, stickySecret, apiSecrets, firstAdmin };
}
