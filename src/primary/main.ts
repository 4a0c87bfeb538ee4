/**
 * Primary start-up: load and validate the config once, fork the workers with the frozen
 * snapshot, and own the process signals. The primary never proxies traffic.
 */
import { createLogger } from '../shared/log.js';
import { ConfigError, loadConfigFile } from '../shared/config/load.js';
import type { ConfigSnapshot } from '../shared/ipc.js';
import { Supervisor } from './supervisor.js';

export async function runPrimary(configPath: string): Promise<void> {
  const log = createLogger('primary');
  let snapshot: ConfigSnapshot;
  try {
    snapshot = { version: 1, config: await loadConfigFile(configPath) };
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`veloflux: invalid configuration\n${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const { server } = snapshot.config;
  const supervisor = new Supervisor(snapshot, log, {
    onAllReady: (httpPort) => log.info({ http: { host: server.http.host, port: httpPort }, workers: server.workers, configVersion: snapshot.version }, 'veloflux ready'),
    onFatal: (message) => {
      log.fatal(message);
      process.stderr.write(`veloflux: ${message}\n`);
      void supervisor.shutdown(0).finally(() => process.exit(1));
    },
  });
  supervisor.start();

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, deadlineMs: server.timeouts.shutdown }, 'shutting down: draining in-flight requests');
    void supervisor.shutdown(server.timeouts.shutdown).then(() => {
      log.info('all workers stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
