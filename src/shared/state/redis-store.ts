/**
 * The shared state store (DESIGN.md §1, redis mode): every VeloFlux instance reads and writes the
 * same Redis and hears every change on one pub/sub channel, its own included.
 *
 * Layout, under `keyPrefix` (every name part escaped by key-escape.ts, so ids may hold any
 * character):
 *   state:{ns:<ns>}:rec:<id>    hash { v: version, d: JSON value }
 *   state:{ns:<ns>}:ids         set of the namespace's ids, for list()
 *   state:{ns:<ns>}:count:<id>  counter (INCRBY)
 *   state-changes               channel: "<version> <JSON change>"
 * The hash tag is per namespace: a record and its index share a cluster slot, which the Lua
 * scripts need, while different namespaces can still live on different Redis Cluster shards.
 *
 * A write is one Lua script that checks the expected version, writes and publishes, so no
 * instance can see a change without its event or the other way round. Changes published while
 * this instance was disconnected are not replayed (pub/sub has no memory): owners listen to
 * onStatus and read again what they care about when the store becomes available.
 */
import type { RedisConfig } from '../config/schema.js';
import { VelofluxError } from '../errors.js';
import { Listeners } from '../listeners.js';
import { escapeKeyPart } from './key-escape.js';
import { closeRedisConnection, createRedisConnection, stateUnavailable, type RedisConnection } from './redis-connection.js';
import type { PutOptions, StateChange, StateRecord, StateStatus, StateStore } from './store.js';

/** KEYS: record, index. ARGV: expected version ('' = any), value JSON, id, channel, change JSON. */
const PUT_SCRIPT = `
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or 0)
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= current then return {0, current} end
local version = current + 1
redis.call('HSET', KEYS[1], 'v', version, 'd', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('PUBLISH', ARGV[4], version .. ' ' .. ARGV[5])
return {1, version}
`;

/** KEYS: record, index. ARGV: expected version ('' = any), id, channel, change JSON. */
const DELETE_SCRIPT = `
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or 0)
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= current then return {0, current} end
if current == 0 then return {1, 0} end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[3], current .. ' ' .. ARGV[4])
return {1, current}
`;

/** [1, version] when written, [0, current version] on a version conflict. */
type ScriptOutcome = [written: number, version: number];

/** The scripts registered with defineCommand (ioredis runs EVALSHA and falls back to EVAL). */
/** A fixed window starting with the first hit: the expiry is set only when the key is created. */
const WINDOW_SCRIPT = `
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return hits
`;

interface StoreScripts {
  veloStateWindow(key: string, windowMs: number): Promise<number>;
  veloStatePut(record: string, index: string, expected: string, json: string, id: string, channel: string, change: string): Promise<ScriptOutcome>;
  veloStateDelete(record: string, index: string, expected: string, id: string, channel: string, change: string): Promise<ScriptOutcome>;
}

export interface RedisStateStoreOptions {
  /** Told about events nobody awaits: a change message that cannot be read, a listener that threw. */
  readonly log?: (message: string, error?: unknown) => void;
}

export class RedisStateStore implements StateStore {
  readonly nodeId: string;
  readonly #prefix: string;
  readonly #channel: string;
  readonly #originJson: string;
  readonly #redis: RedisConnection;
  readonly #scripts: StoreScripts;
  /** Pub/sub needs a connection of its own: a subscribed connection runs no other command. */
  readonly #subscriber: RedisConnection;
  readonly #log: (message: string, error?: unknown) => void;
  readonly #changeListeners: Listeners<StateChange>;
  readonly #statusListeners: Listeners<StateStatus>;
  #commandsReady = false;
  #subscribed = false;
  #closed = false;
  #available = false;
  #since = new Date().toISOString();
  #lastError: string | undefined;

  constructor(config: RedisConfig, nodeId: string, options: RedisStateStoreOptions = {}) {
    this.nodeId = nodeId;
    this.#prefix = config.keyPrefix;
    this.#channel = `${config.keyPrefix}state-changes`;
    this.#originJson = JSON.stringify(nodeId);
    this.#log = options.log ?? (() => {});
    // A throwing listener must neither starve the others nor escape into ioredis' reader.
    this.#changeListeners = new Listeners((err) => this.#log('a state change listener threw', err));
    this.#statusListeners = new Listeners((err) => this.#log('a state status listener threw', err));

    this.#redis = createRedisConnection(config, 'state');
    this.#redis.defineCommand('veloStatePut', { numberOfKeys: 2, lua: PUT_SCRIPT });
    this.#redis.defineCommand('veloStateDelete', { numberOfKeys: 2, lua: DELETE_SCRIPT });
    this.#redis.defineCommand('veloStateWindow', { numberOfKeys: 1, lua: WINDOW_SCRIPT });
    this.#scripts = this.#redis as unknown as StoreScripts;
    this.#redis.on('ready', () => this.#setCommandsReady(true));
    this.#redis.on('close', () => this.#setCommandsReady(false));
    this.#redis.on('error', (err: Error) => (this.#lastError = err.message));

    this.#subscriber = createRedisConnection(config, 'state-events');
    this.#subscriber.on('ready', () => this.#subscribe());
    this.#subscriber.on('close', () => this.#setSubscribed(false));
    this.#subscriber.on('error', (err: Error) => (this.#lastError = err.message));
    this.#subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.#channel) this.#deliver(message);
    });
  }

  async get<T>(namespace: string, id: string): Promise<StateRecord<T> | undefined> {
    let fields: (string | null)[];
    try {
      fields = await this.#redis.hmget(this.#recordKey(namespace, id), 'v', 'd');
    } catch (err) {
      throw stateUnavailable(err, `get ${namespace}/${id}`);
    }
    return toRecord<T>(fields);
  }

  /**
   * Not a snapshot: a record written while the list is read may or may not be in it, but every
   * record returned is whole (version and value from the same write).
   */
  async list<T>(namespace: string): Promise<Map<string, StateRecord<T>>> {
    const records = new Map<string, StateRecord<T>>();
    try {
      const ids = (await this.#redis.smembers(this.#indexKey(namespace))).sort();
      // One round trip: auto-pipelining sends these together.
      const rows = await Promise.all(ids.map((id) => this.#redis.hmget(this.#recordKey(namespace, id), 'v', 'd')));
      ids.forEach((id, i) => {
        const record = toRecord<T>(rows[i]!);
        if (record !== undefined) records.set(id, record);
      });
    } catch (err) {
      throw stateUnavailable(err, `list ${namespace}`);
    }
    return records;
  }

  async put<T>(namespace: string, id: string, value: T, options: PutOptions = {}): Promise<StateRecord<T>> {
    const expected = expectedArgument(options);
    const json = JSON.stringify(value) ?? 'null';
    const change = `{"namespace":${JSON.stringify(namespace)},"id":${JSON.stringify(id)},"origin":${this.#originJson},"deleted":false,"value":${json}}`;
    let outcome: ScriptOutcome;
    try {
      outcome = await this.#scripts.veloStatePut(this.#recordKey(namespace, id), this.#indexKey(namespace), expected, json, id, this.#channel, change);
    } catch (err) {
      throw stateUnavailable(err, `put ${namespace}/${id}`);
    }
    const [written, version] = outcome;
    if (written !== 1) throw conflict(namespace, id, version, expected);
    return Object.freeze({ value, version });
  }

  async delete(namespace: string, id: string, options: PutOptions = {}): Promise<boolean> {
    const expected = expectedArgument(options);
    const change = `{"namespace":${JSON.stringify(namespace)},"id":${JSON.stringify(id)},"origin":${this.#originJson},"deleted":true}`;
    let outcome: ScriptOutcome;
    try {
      outcome = await this.#scripts.veloStateDelete(this.#recordKey(namespace, id), this.#indexKey(namespace), expected, id, this.#channel, change);
    } catch (err) {
      throw stateUnavailable(err, `delete ${namespace}/${id}`);
    }
    const [written, version] = outcome;
    if (written !== 1) throw conflict(namespace, id, version, expected);
    return version > 0;
  }

  async increment(namespace: string, id: string, by = 1): Promise<number> {
    if (!Number.isSafeInteger(by)) throw new TypeError(`increment by a whole number, not ${by}`);
    try {
      return await this.#redis.incrby(this.#counterKey(namespace, id), by);
    } catch (err) {
      throw stateUnavailable(err, `increment ${namespace}/${id}`);
    }
  }

  async countInWindow(namespace: string, id: string, windowMs: number): Promise<number> {
    try {
      return await this.#scripts.veloStateWindow(`${this.#counterKey(namespace, id)}:window`, windowMs);
    } catch (err) {
      throw stateUnavailable(err, `count ${namespace}/${id}`);
    }
  }

  async counter(namespace: string, id: string): Promise<number> {
    let total: string | null;
    try {
      total = await this.#redis.get(this.#counterKey(namespace, id));
    } catch (err) {
      throw stateUnavailable(err, `read counter ${namespace}/${id}`);
    }
    return total === null ? 0 : Number(total);
  }

  onChange(listener: (change: StateChange) => void): () => void {
    return this.#changeListeners.add(listener);
  }

  /**
   * Called on every transition between available and unavailable. Available means both that
   * commands are answered and that change events are heard again, so reading state from this
   * callback misses nothing.
   */
  onStatus(listener: (status: StateStatus) => void): () => void {
    return this.#statusListeners.add(listener);
  }

  status(): StateStatus {
    if (this.#available) return { backend: 'redis', available: true, since: this.#since };
    return { backend: 'redis', available: false, error: this.#closed ? 'closed' : (this.#lastError ?? 'not connected to Redis yet'), since: this.#since };
  }

  /** Resolves true once available (at once if it is), false if that takes longer than `timeoutMs`. */
  whenAvailable(timeoutMs: number): Promise<boolean> {
    if (this.#available) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        unsubscribe();
        resolve(false);
      }, timeoutMs);
      const unsubscribe = this.onStatus((status) => {
        if (!status.available) return;
        clearTimeout(timer);
        unsubscribe();
        resolve(true);
      });
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#changeListeners.clear();
    this.#statusListeners.clear();
    this.#refreshStatus();
    await Promise.all([closeRedisConnection(this.#redis), closeRedisConnection(this.#subscriber)]);
  }

  #recordKey(namespace: string, id: string): string {
    return `${this.#prefix}state:{ns:${escapeKeyPart(namespace)}}:rec:${escapeKeyPart(id)}`;
  }

  #indexKey(namespace: string): string {
    return `${this.#prefix}state:{ns:${escapeKeyPart(namespace)}}:ids`;
  }

  #counterKey(namespace: string, id: string): string {
    return `${this.#prefix}state:{ns:${escapeKeyPart(namespace)}}:count:${escapeKeyPart(id)}`;
  }

  #subscribe(): void {
    this.#subscriber.subscribe(this.#channel).then(
      () => this.#setSubscribed(this.#subscriber.status === 'ready'),
      // The connection dropped before the answer: the next 'ready' subscribes again.
      (err: unknown) => (this.#lastError = err instanceof Error ? err.message : String(err)),
    );
  }

  #setCommandsReady(ready: boolean): void {
    if (this.#commandsReady && !ready) this.#lastError = 'lost the connection to Redis';
    this.#commandsReady = ready;
    this.#refreshStatus();
  }

  #setSubscribed(subscribed: boolean): void {
    if (this.#subscribed && !subscribed) this.#lastError = 'lost the change-events connection to Redis';
    this.#subscribed = subscribed;
    this.#refreshStatus();
  }

  #refreshStatus(): void {
    const available = this.#commandsReady && this.#subscribed && !this.#closed;
    if (available === this.#available) return;
    this.#available = available;
    if (available) this.#lastError = undefined;
    this.#since = new Date().toISOString();
    const status = this.status();
    this.#statusListeners.emit(status);
  }

  #deliver(message: string): void {
    let change: StateChange;
    try {
      const space = message.indexOf(' ');
      const body = JSON.parse(message.slice(space + 1)) as { namespace: string; id: string; origin: string; deleted: boolean; value?: unknown };
      change = Object.freeze({
        namespace: body.namespace,
        id: body.id,
        version: Number(message.slice(0, space)),
        value: body.deleted ? undefined : body.value,
        deleted: body.deleted,
        origin: body.origin,
      });
    } catch (err) {
      this.#log(`unreadable message on ${this.#channel}`, err);
      return;
    }
    this.#changeListeners.emit(change);
  }
}

function toRecord<T>([version, json]: (string | null)[]): StateRecord<T> | undefined {
  if (version == null || json == null) return undefined;
  return Object.freeze({ value: JSON.parse(json) as T, version: Number(version) });
}

function expectedArgument(options: PutOptions): string {
  const expected = options.expectedVersion;
  if (expected === undefined) return '';
  if (!Number.isSafeInteger(expected) || expected < 0) throw new TypeError(`expectedVersion must be a whole number >= 0, not ${expected}`);
  return String(expected);
}

function conflict(namespace: string, id: string, current: number, expected: string): VelofluxError {
  return new VelofluxError('VF_ERR_STATE_CONFLICT', `${namespace}/${id} is at version ${current}, not ${expected}`);
}
