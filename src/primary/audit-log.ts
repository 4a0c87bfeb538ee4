/**
 * Who changed what, when, and how it ended: every admin change and reload is logged and kept
 * (the last 1000 in memory for GET /admin/audit, all of them appended to <dataDir>/audit.log).
 */
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../shared/log.js';

export interface Actor {
  /** `admin-api`, `SIGHUP`, ... */
  via: string;
  /** Peer address for API calls. */
  address?: string;
  /** The main API user who asked (their id and email). */
  user?: string;
  /** The VeloFlux instance a change came from, for changes that arrive through the shared state. */
  node?: string;
}

export interface AuditEntry {
  at: string;
  actor: Actor;
  action: string;
  target?: string;
  outcome: 'applied' | 'rejected' | 'failed';
  configVersion?: number;
  detail?: unknown;
  /** A backend addition's address, refused or not (issue 14: what was asked for is on record). */
  url?: string;
  /** How the backend address policy judged it; absent when it does not apply (the admin API, a platform pool). */
  addressPolicy?: { tenant: string | null; outcome: 'allowed' | 'refused' | 'overridden'; rule?: string };
}

const KEEP = 1000;

export class AuditLog {
  readonly #entries: AuditEntry[] = [];
  readonly #file: string;
  readonly #log: Logger;
  #writes: Promise<void> = Promise.resolve();

  constructor(dataDir: string, log: Logger) {
    this.#file = join(dataDir, 'audit.log');
    this.#log = log;
  }

  record(entry: Omit<AuditEntry, 'at'>): AuditEntry {
    const full: AuditEntry = { at: new Date().toISOString(), ...entry };
    this.#entries.push(full);
    if (this.#entries.length > KEEP) this.#entries.splice(0, this.#entries.length - KEEP);
    this.#log.info({ audit: full }, `audit: ${full.action} ${full.outcome}`);
    const line = `${JSON.stringify(full)}\n`;
    this.#writes = this.#writes
      .then(() => mkdir(join(this.#file, '..'), { recursive: true }))
      .then(() => appendFile(this.#file, line, { mode: 0o600 }))
      .catch((err: unknown) => this.#log.error({ err }, 'could not append to the audit log'));
    return full;
  }

  /** Newest first. */
  list(limit = 100): AuditEntry[] {
    return this.#entries.slice(-limit).reverse();
  }
}
