/** Structured logging (pino), one JSON line per event; the process role and pid are bound once. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(role: 'primary' | 'worker' | 'cli', bindings: Record<string, unknown> = {}): Logger {
  return pino({ level: process.env.VELOFLUX_LOG_LEVEL ?? 'info', base: { role, pid: process.pid, ...bindings } });
}
