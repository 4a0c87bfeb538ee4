/**
 * This instance's seat in the cluster. It is taken once the workers listen (a node's identity
 * carries its bound HTTP port): before that there is no membership to report and this instance
 * is not the leader.
 */
import type { Logger } from '../../shared/log.js';
import type { RedisConfig } from '../../shared/config/schema.js';
import type { NodeConfigState } from '../../shared/state/node-registry.js';
import { identityOf, joinCluster, type ClusterMembership } from './cluster-membership.js';

export class ClusterSeat {
  readonly #redis: RedisConfig | undefined;
  readonly #nodeId: string;
  readonly #version: string;
  readonly #log: Logger;
  readonly #config: () => NodeConfigState;
  #membership: ClusterMembership | undefined;

  /** `config`: what this instance serves, reported with every heartbeat. */
  constructor(redis: RedisConfig | undefined, nodeId: string, version: string, log: Logger, config: () => NodeConfigState) {
    this.#redis = redis;
    this.#nodeId = nodeId;
    this.#version = version;
    this.#log = log;
    this.#config = config;
  }

  take(httpPort: number): void {
    this.#membership ??= joinCluster(this.#redis, identityOf(this.#nodeId, httpPort, this.#version), this.#log, this.#config);
  }

  /** The membership once the seat is taken (for the admin API, metrics and the API feed). */
  readonly membership = (): ClusterMembership | undefined => this.#membership;

  isLeader(): boolean {
    return this.#membership?.isLeader ?? false;
  }

  /** Leaves the node list and hands the lease over at once, rather than after their timeouts. */
  leave(): Promise<void> {
    return this.#membership?.stop() ?? Promise.resolve();
  }
}
