/**
 * What the primary answers to the main API's calls about what it has observed (shared/rpc.ts):
 * the recent log lines of every process, and the alerts Alertmanager sent.
 */
import type { Logger } from '../shared/log.js';
import type { AlertStore } from './alert-store.js';
import type { RecentLogs } from './recent-logs.js';
import type { WorkerRpc } from './worker-rpc.js';

export function handleObservationCalls(rpc: WorkerRpc, recentLogs: RecentLogs, alerts: AlertStore, log: Logger): void {
  rpc
    .handle('logs.recent', async (query) => recentLogs.query(query))
    .handle('alerts.record', async ({ payload, receivedBy }) => {
      const stored = alerts.record(payload as { alerts?: unknown });
      log.info({ stored, receivedBy }, 'alerts received from Alertmanager');
      return { stored };
    })
    .handle('alerts.list', async ({ limit }) => ({ alerts: alerts.newest(limit ?? 100) }));
}
