/** Structured logging (pino), one JSON line per event; the process role and pid are bound once. */
import { pino, type Logger } from 'pino';
import { logTap } from './log-tap.js';

export type { Logger };

/** Lines go to stdout through the process's log tap (log-tap.ts), which can also hand them to a sink. */
export function createLogger(role: 'primary' | 'worker' | 'cli', bindings: Record<string, unknown> = {}): Logger {
  return pino({ level: process.env.VELOFLUX_LOG_LEVEL ?? 'info', base: { role, pid: process.pid, ...bindings } }, logTap);
}
