/**
 * What a worker observes about its own traffic, in one object handed to whatever records it:
 * request counters (Prometheus series), the access log, the WebSocket counters and the security
 * filter's events. The worker builds one (main.ts) and passes it in; the stats reporter reads it
 * once a second. Nothing on the request path reaches telemetry through a module-level instance.
 */
import { AccessLog } from './access-log.js';
import { RequestMetrics } from './request-metrics.js';
import { SecurityEventLog } from './security-events.js';
import { WebSocketStats } from './websocket-stats.js';

export class Telemetry {
  readonly requests = new RequestMetrics();
  readonly accessLog = new AccessLog();
  readonly websockets = new WebSocketStats();
  readonly securityEvents = new SecurityEventLog();
}
