/**
 * The recent log lines of the primary and every worker, for GET /api/admin/logs: parsed once as
 * they arrive, kept in a ring bounded by line count and by bytes (whichever is reached first, the
 * oldest lines go), and filtered by minimum level and time when read. Lines lost before reaching
 * the ring (over a worker's rate cap, or not JSON) are counted, so a reader knows the view has gaps.
 */
import { VelofluxError } from '../shared/errors.js';
import type { LogSink } from '../shared/log-tap.js';

/** pino's numeric levels. */
export const LEVEL_VALUES = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

export const DEFAULT_MAX_LINES = 2000;
export const DEFAULT_MAX_BYTES = 2 * 1024 * 1024;
/** A longer line (a huge error object) keeps only its level, time, origin and the start of its message. */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024;
const TRUNCATED_MSG_CHARS = 1024;
export const DEFAULT_QUERY_LIMIT = 100;
export const MAX_QUERY_LIMIT = 1000;

export interface RecentLogsOptions {
  maxLines?: number;
  maxBytes?: number;
  maxLineBytes?: number;
}

export interface RecentLogsQuery {
  /** Minimum level name: `warn` returns warn, error and fatal lines. */
  level?: string;
  /** How many of the newest matching lines (default 100, at most 1000). */
  limit?: number;
  /** ISO time: only lines logged after it. */
  since?: string;
}

export interface RecentLogsPage {
  /** Oldest first, newest last; the objects pino wrote (level as a number, time in ms). */
  lines: Record<string, unknown>[];
  /** Lines that never reached the ring since the primary started. */
  dropped: number;
}

interface Entry {
  readonly line: Record<string, unknown>;
  readonly level: number;
  readonly time: number;
  readonly bytes: number;
}

export class RecentLogs {
  readonly #ring: (Entry | undefined)[];
  readonly #maxBytes: number;
  readonly #maxLineBytes: number;
  /** Index of the oldest entry. */
  #head = 0;
  #size = 0;
  #bytes = 0;
  #dropped = 0;

  constructor(options: RecentLogsOptions = {}) {
    const maxLines = options.maxLines ?? DEFAULT_MAX_LINES;
    if (!Number.isInteger(maxLines) || maxLines < 1) throw new RangeError(`maxLines must be a positive integer, got ${maxLines}`);
    this.#ring = new Array<Entry | undefined>(maxLines).fill(undefined);
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.#maxLineBytes = Math.min(options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES, this.#maxBytes);
  }

  /** For logTap.attach(): the primary's own lines. */
  readonly sink: LogSink = (line) => this.add(line);

  /** One JSON log line (from the primary's tap or a worker's batch). */
  add(text: string): void {
    let line: unknown;
    try {
      line = JSON.parse(text);
    } catch {
      this.#dropped++;
      return;
    }
    if (typeof line !== 'object' || line === null || Array.isArray(line)) {
      this.#dropped++;
      return;
    }
    this.#push(line as Record<string, unknown>, Buffer.byteLength(text));
  }

  /** A worker's batch, with the lines it dropped before sending it. */
  addBatch(lines: readonly string[], dropped = 0): void {
    this.#dropped += dropped;
    for (const line of lines) this.add(line);
  }

  get size(): number {
    return this.#size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get dropped(): number {
    return this.#dropped;
  }

  /** The newest `limit` lines at or above `level` logged after `since`, newest last. */
  query(query: RecentLogsQuery = {}): RecentLogsPage {
    const minLevel = query.level === undefined ? 0 : levelValue(query.level);
    const limit = query.limit ?? DEFAULT_QUERY_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_QUERY_LIMIT) throw new VelofluxError('VF_ERR_VALIDATION', `limit must be an integer from 1 to ${MAX_QUERY_LIMIT}`);
    const since = query.since === undefined ? -Infinity : Date.parse(query.since);
    if (Number.isNaN(since)) throw new VelofluxError('VF_ERR_VALIDATION', `since must be an ISO time, got "${query.since}"`);
    const matches: Entry[] = [];
    for (let i = this.#size - 1; i >= 0 && matches.length < limit; i--) {
      const entry = this.#ring[(this.#head + i) % this.#ring.length]!;
      if (entry.level >= minLevel && entry.time > since) matches.push(entry);
    }
    // The ring is in arrival order; worker lines arrive up to a batch (250 ms) late, so order by
    // the time they were logged (a stable sort keeps arrival order within one millisecond).
    matches.reverse().sort((a, b) => a.time - b.time);
    return { lines: matches.map((entry) => entry.line), dropped: this.#dropped };
  }

  #push(parsed: Record<string, unknown>, bytes: number): void {
    let line = parsed;
    if (bytes > this.#maxLineBytes) {
      line = truncated(parsed);
      bytes = Buffer.byteLength(JSON.stringify(line));
    }
    const level = typeof line.level === 'number' ? line.level : LEVEL_VALUES.info;
    const time = typeof line.time === 'number' ? line.time : Date.now();
    while (this.#size > 0 && (this.#size === this.#ring.length || this.#bytes + bytes > this.#maxBytes)) this.#evictOldest();
    this.#ring[(this.#head + this.#size) % this.#ring.length] = { line, level, time, bytes };
    this.#size++;
    this.#bytes += bytes;
  }

  #evictOldest(): void {
    this.#bytes -= this.#ring[this.#head]!.bytes;
    this.#ring[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#ring.length;
    this.#size--;
  }
}

function levelValue(name: string): number {
  const value = Object.hasOwn(LEVEL_VALUES, name) ? (LEVEL_VALUES as Record<string, number>)[name] : undefined;
  if (value === undefined) {
    throw new VelofluxError('VF_ERR_VALIDATION', `level must be one of ${Object.keys(LEVEL_VALUES).join(', ')}, got "${name}"`);
  }
  return value;
}

function truncated(line: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['level', 'time', 'pid', 'role', 'worker', 'component']) if (Object.hasOwn(line, key)) out[key] = line[key];
  if (typeof line.msg === 'string') out.msg = line.msg.length > TRUNCATED_MSG_CHARS ? `${line.msg.slice(0, TRUNCATED_MSG_CHARS)}…` : line.msg;
  out.truncated = true;
  return out;
}
