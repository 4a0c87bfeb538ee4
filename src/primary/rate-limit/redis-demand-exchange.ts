/**
 * Rate limits across VeloFlux instances sharing one Redis. Every coordinator tick, for each active
 * (policy, key), one atomic Lua script records this instance's demand stamped with Redis' own
 * clock (so clock skew between hosts does not matter), drops instances that have not reported the
 * key for `staleAfterMs`, and returns this instance's part of the key's global rate,
 * (own demand + ε) / Σ (demand + ε) as in demand-shares.ts, with the number of instances using
 * the key. One more script per tick keeps this instance in the set of live instances, whose size
 * gives the default share. The calls of one tick go out together (the connection auto-pipelines).
 *
 * Layout, under `keyPrefix` (one hash tag, so every script's key shares a cluster slot):
 *   {rl}:instances             hash: instance id -> last tick (ms, Redis clock)
 *   {rl}:<policy>:<key>        hash: instance id -> "<demand per second> <ms, Redis clock>"
 * Policy names and keys are escaped (key-escape.ts): `a:b` + `c` and `a` + `b:c` never share a key.
 *
 * Redis unreachable (a command rejects or does not answer within `timeoutMs`): every key gets
 * 1 / (the live instance count last seen, or `expectedInstances` if Redis never answered), so
 * together the instances stay at or under the global rate as long as no instance was added
 * during the outage. Shares from Redis resume with its first answer.
 */
import type { Cluster, Redis } from 'ioredis';
import { whenReady } from '../../shared/state/redis-connection.js';
import type { Logger } from '../../shared/log.js';
import { escapeKeyPart } from '../../shared/state/key-escape.js';
import type { DemandExchange, InstanceShares, KeyDemand } from './demand-exchange.js';
import { EPSILON_FLOOR, EPSILON_FRACTION } from './demand-shares.js';

/** KEYS: the key's hash. ARGV: instance id, demand, stale ms, ε fraction, ε floor. Returns {share as text, live instances}. */
const SHARE_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local stale = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. now)
local entries = redis.call('HGETALL', KEYS[1])
local sum, live, own = 0, 0, 0
for i = 1, #entries, 2 do
  local demand, at = string.match(entries[i + 1], '^(%S+) (%d+)$')
  demand = tonumber(demand)
  at = tonumber(at)
  if demand == nil or at == nil or now - at > stale then
    redis.call('HDEL', KEYS[1], entries[i])
  else
    if demand < 0 then demand = 0 end
    sum = sum + demand
    live = live + 1
    if entries[i] == ARGV[1] then own = demand end
  end
end
redis.call('PEXPIRE', KEYS[1], stale * 2)
local epsilon = tonumber(ARGV[4]) * sum / live + tonumber(ARGV[5])
return { tostring((own + epsilon) / (sum + live * epsilon)), live }
`;

/** KEYS: the instances hash. ARGV: instance id, stale ms. Returns the number of live instances. */
const INSTANCES_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local stale = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], now)
local entries = redis.call('HGETALL', KEYS[1])
local live = 0
for i = 1, #entries, 2 do
  local at = tonumber(entries[i + 1])
  if at == nil or now - at > stale then redis.call('HDEL', KEYS[1], entries[i]) else live = live + 1 end
end
redis.call('PEXPIRE', KEYS[1], stale * 2)
return live
`;

interface RateLimitScripts {
  veloRateShare(key: string, instanceId: string, demand: string, staleMs: number, epsilonFraction: number, epsilonFloor: number): Promise<[string, number]>;
  veloRateInstances(key: string, instanceId: string, staleMs: number): Promise<number>;
}

export interface RedisDemandExchangeOptions {
  /** `server.redis.keyPrefix`. */
  readonly keyPrefix: string;
  /** This instance's id (the state store's node id); unique per running instance. */
  readonly instanceId: string;
  /** Instances assumed until Redis has answered once (default 1); see the fallback above. */
  readonly expectedInstances?: number;
  /** An instance that has not reported a key (or ticked) for this long no longer counts (default 1 s). */
  readonly staleAfterMs?: number;
  /** One tick's answers are awaited this long at most (default 300 ms). */
  readonly timeoutMs?: number;
  readonly log?: Logger;
}

const TIMED_OUT = Symbol('timed out');

export class RedisDemandExchange implements DemandExchange {
  readonly #redis: (Redis | Cluster) & RateLimitScripts;
  readonly #prefix: string;
  readonly #instanceId: string;
  readonly #instancesKey: string;
  readonly #staleMs: number;
  readonly #timeoutMs: number;
  readonly #log: Logger | undefined;
  /** Live instances as Redis last said, or the configured guess before it ever answered. */
  #instances: number;
  #failing = false;
  /** False while a new connection is still connecting: not a failure yet (issue 13, quiet start). */
  #started = false;

  /** `redis` is a connection from createRedisConnection (no offline queue, bounded commands). */
  constructor(redis: Redis | Cluster, options: RedisDemandExchangeOptions) {
    const expected = options.expectedInstances ?? 1;
    if (!Number.isInteger(expected) || expected < 1) throw new RangeError(`expectedInstances must be a positive integer, got ${expected}`);
    if (options.instanceId === '') throw new RangeError('instanceId must not be empty');
    const scripted = redis as (Redis | Cluster) & Partial<RateLimitScripts>;
    // Defined once per connection (EVALSHA, falling back to EVAL when Redis lost the script).
    if (typeof scripted.veloRateShare !== 'function') redis.defineCommand('veloRateShare', { numberOfKeys: 1, lua: SHARE_SCRIPT });
    if (typeof scripted.veloRateInstances !== 'function') redis.defineCommand('veloRateInstances', { numberOfKeys: 1, lua: INSTANCES_SCRIPT });
    this.#redis = scripted as (Redis | Cluster) & RateLimitScripts;
    this.#prefix = `${options.keyPrefix}{rl}:`;
    this.#instanceId = options.instanceId;
    this.#instancesKey = `${this.#prefix}instances`;
    this.#staleMs = options.staleAfterMs ?? 1000;
    this.#timeoutMs = options.timeoutMs ?? 300;
    this.#log = options.log;
    this.#instances = expected;
    this.#started = redis.status === 'ready';
    if (!this.#started) void whenReady(redis).then(() => (this.#started = true));
  }

  /** The Redis key of a (policy, key) pair. */
  keyOf(policy: string, key: string): string {
    return `${this.#prefix}${escapeKeyPart(policy)}:${escapeKeyPart(key)}`;
  }

  async exchange(demands: readonly KeyDemand[]): Promise<InstanceShares> {
    // Until the connection is ready (or found down after START_WAIT_MS) the local shares apply, unreported.
    if (!this.#started) return this.#fallback(demands.length);
    const calls: Promise<unknown>[] = [this.#redis.veloRateInstances(this.#instancesKey, this.#instanceId, this.#staleMs)];
    for (const d of demands) {
      calls.push(this.#redis.veloRateShare(this.keyOf(d.policy, d.key), this.#instanceId, d.demand.toFixed(3), this.#staleMs, EPSILON_FRACTION, EPSILON_FLOOR));
    }
    const settled = Promise.allSettled(calls);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(resolve, this.#timeoutMs, TIMED_OUT)));
    const results = await Promise.race([settled, timeout]);
    clearTimeout(timer);
    if (results === TIMED_OUT) {
      this.#noteFailure(new Error(`no answer within ${this.#timeoutMs} ms`));
      return this.#fallback(demands.length);
    }

    const [instances, ...perKey] = results;
    if (instances!.status === 'fulfilled') this.#instances = Math.max(1, Number(instances!.value));
    const fallbackShare = 1 / this.#instances;
    let failure: unknown = instances!.status === 'rejected' ? instances!.reason : undefined;
    const shares = perKey.map((result) => {
      if (result.status === 'rejected') {
        failure ??= result.reason;
        return fallbackShare;
      }
      const share = Number((result.value as [string, number])[0]);
      return share > 0 && share <= 1 ? share : fallbackShare;
    });
    if (failure !== undefined) this.#noteFailure(failure);
    else if (this.#failing) {
      this.#failing = false;
      this.#log?.info('Redis answers again: rate limit shares across instances resumed');
    }
    return { shares, instances: this.#instances };
  }

  /** The connection belongs to the caller; nothing to release here. */
  async close(): Promise<void> {}

  #fallback(count: number): InstanceShares {
    return { shares: new Array<number>(count).fill(1 / this.#instances), instances: this.#instances };
  }

  #noteFailure(err: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    this.#log?.warn(
      { err: err instanceof Error ? err.message : String(err), instances: this.#instances },
      `Redis unavailable: rate limits fall back to 1/${this.#instances} of the global rate per instance`,
    );
  }
}
