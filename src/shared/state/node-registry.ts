/**
 * Which VeloFlux instances share this Redis right now: each one registers itself and sends a
 * heartbeat; an instance that stops heartbeating (crash, network partition) drops out after
 * `ttlMs`, one that stops cleanly leaves at once.
 *
 * Layout, under `keyPrefix` (one hash tag, so the heartbeat script's keys share a cluster slot):
 *   {nodes}:seen        sorted set of node ids, scored by the last heartbeat (ms, Redis clock)
 *   {nodes}:node:<id>   the node's fields as JSON, expiring `ttlMs` after its last heartbeat
 * "Last seen" comes from Redis' own clock (TIME inside the script), so clock skew between hosts
 * neither hides a live node nor keeps a dead one.
 */
import { VelofluxError } from '../errors.js';
import { escapeKeyPart } from './key-escape.js';
import { stateUnavailable, type RedisConnection } from './redis-connection.js';

/** KEYS: seen set, node key. ARGV: id, fields JSON, ttl ms. Returns the server time in ms. */
const HEARTBEAT_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[3])))
return now
`;

/** KEYS: seen set, node key. ARGV: id. */
const DEREGISTER_SCRIPT = `
redis.call('DEL', KEYS[2])
return redis.call('ZREM', KEYS[1], ARGV[1])
`;

interface RegistryScripts {
  veloNodeHeartbeat(seen: string, node: string, id: string, fields: string, ttlMs: number): Promise<number>;
  veloNodeDeregister(seen: string, node: string, id: string): Promise<number>;
}

export interface NodeIdentity {
  readonly id: string;
  /** Where other instances and operators reach this one (e.g. its API address). */
  readonly address: string;
  /** VeloFlux version, so a rolling upgrade is visible. */
  readonly version: string;
  /** ISO time the instance started. */
  readonly started: string;
}

/** What a node serves, sent with every heartbeat so operators see a host that does not follow the others. */
export interface NodeConfigState {
  /** The config version its workers serve. */
  readonly version: number;
  /** ETag of its dynamic config (equal content, equal tag). */
  readonly etag: string;
}

export interface NodeInfo extends NodeIdentity {
  /** Absent for a node that does not report it (an older version). */
  readonly config?: NodeConfigState;
  /** ISO time of the last heartbeat, by Redis' clock. */
  readonly lastSeen: string;
  /** True for the instance that asked. */
  readonly self: boolean;
}

export interface NodeRegistryOptions {
  readonly keyPrefix: string;
  readonly node: NodeIdentity;
  readonly heartbeatMs?: number;
  /** A node that has not sent a heartbeat for this long is gone. */
  readonly ttlMs?: number;
  /** Told once per outage that heartbeats fail, and once when they work again. */
  readonly log?: (message: string, error?: unknown) => void;
  /** Read at every heartbeat. */
  readonly config?: () => NodeConfigState;
}

export class NodeRegistry {
  readonly #connection: RedisConnection;
  readonly #scripts: RegistryScripts;
  readonly #node: NodeIdentity;
  readonly #config: (() => NodeConfigState) | undefined;
  readonly #seenKey: string;
  readonly #nodeKeyPrefix: string;
  readonly #heartbeatMs: number;
  readonly #ttlMs: number;
  readonly #log: (message: string, error?: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #beating: Promise<void> | undefined;
  #failing = false;
  readonly #onReady = () => void this.#beat();

  constructor(connection: RedisConnection, options: NodeRegistryOptions) {
    this.#heartbeatMs = options.heartbeatMs ?? 1000;
    this.#ttlMs = options.ttlMs ?? 3000;
    if (!(this.#heartbeatMs > 0) || !(this.#ttlMs > this.#heartbeatMs)) {
      throw new VelofluxError('VF_ERR_CONFIG_INVALID', `node registry: ttlMs (${this.#ttlMs}) must be longer than heartbeatMs (${this.#heartbeatMs}) > 0`);
    }
    this.#connection = connection;
    connection.defineCommand('veloNodeHeartbeat', { numberOfKeys: 2, lua: HEARTBEAT_SCRIPT });
    connection.defineCommand('veloNodeDeregister', { numberOfKeys: 2, lua: DEREGISTER_SCRIPT });
    this.#scripts = connection as unknown as RegistryScripts;
    const { id, address, version, started } = options.node;
    this.#node = { id, address, version, started };
    this.#config = options.config;
    this.#seenKey = `${options.keyPrefix}{nodes}:seen`;
    this.#nodeKeyPrefix = `${options.keyPrefix}{nodes}:node:`;
    this.#log = options.log ?? (() => {});
  }

  /** Registers at once, then every `heartbeatMs`; registers again as soon as Redis returns. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#connection.on('ready', this.#onReady);
    void this.#beat();
  }

  /** Stops heartbeating and leaves the registry at once (if Redis is down, the ttl removes it). */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearTimeout(this.#timer);
    this.#connection.off('ready', this.#onReady);
    // A heartbeat still in flight would register the node again after the removal.
    await this.#beating;
    try {
      await this.#scripts.veloNodeDeregister(this.#seenKey, this.#nodeKey(this.#node.id), this.#node.id);
    } catch (err) {
      this.#log(`could not remove node ${this.#node.id} from the registry; it drops out after ${this.#ttlMs} ms`, err);
    }
  }

  /** Live nodes (heartbeat within `ttlMs`), sorted by id. Rejects with VF_ERR_STATE_UNAVAILABLE. */
  async list(): Promise<NodeInfo[]> {
    try {
      const seen = await this.#connection.zrange(this.#seenKey, 0, -1, 'WITHSCORES');
      const ids: string[] = [];
      const lastSeen: number[] = [];
      for (let i = 0; i < seen.length; i += 2) {
        ids.push(seen[i]!);
        lastSeen.push(Number(seen[i + 1]));
      }
      if (ids.length === 0) return [];
      // The per-node key expires on its own: it, not the score, decides who is alive.
      const fields = await this.#connection.mget(ids.map((id) => this.#nodeKey(id)));
      const nodes: NodeInfo[] = [];
      ids.forEach((id, i) => {
        const json = fields[i];
        if (json == null) return;
        const identity = JSON.parse(json) as NodeIdentity & { config?: NodeConfigState };
        nodes.push({ ...identity, id, lastSeen: new Date(lastSeen[i]!).toISOString(), self: id === this.#node.id });
      });
      return nodes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    } catch (err) {
      throw stateUnavailable(err, 'list nodes');
    }
  }

  #fields(): string {
    return JSON.stringify(this.#config === undefined ? this.#node : { ...this.#node, config: this.#config() });
  }

  #nodeKey(id: string): string {
    return this.#nodeKeyPrefix + escapeKeyPart(id);
  }

  /** One heartbeat, then the next one is scheduled; never two at once. */
  #beat(): Promise<void> {
    if (!this.#running) return Promise.resolve();
    if (this.#beating !== undefined) return this.#beating;
    clearTimeout(this.#timer);
    this.#beating = this.#scripts
      .veloNodeHeartbeat(this.#seenKey, this.#nodeKey(this.#node.id), this.#node.id, this.#fields(), this.#ttlMs)
      .then(
        () => {
          if (this.#failing) this.#log(`node ${this.#node.id} heartbeats reach Redis again`);
          this.#failing = false;
        },
        (err: unknown) => {
          // Redis down is an expected state (DESIGN.md §1): say it once, not every second.
          if (!this.#failing) this.#log(`node ${this.#node.id} cannot send heartbeats to Redis; retrying every ${this.#heartbeatMs} ms`, err);
          this.#failing = true;
        },
      )
      .finally(() => {
        this.#beating = undefined;
        if (this.#running) this.#timer = setTimeout(() => void this.#beat(), this.#heartbeatMs).unref();
      });
    return this.#beating;
  }
}
