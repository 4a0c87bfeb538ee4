/**
 * One stream's subscribers, grouped by tenant scope, with the last message of each scope so a client
 * that connects (or authenticates) gets a snapshot at once instead of waiting for the next update.
 */
import type { StreamName } from '../../../shared/api-feed.js';
import type { StreamClient } from './stream-client.js';

interface ScopeGroup {
  readonly subscribers: Set<StreamClient>;
  last: Buffer | undefined;
}

export class StreamChannel {
  readonly name: StreamName;
  readonly isPrivate: boolean;
  /** Keyed by tenant; `null` is the unscoped, whole-cluster view. Bounded by the number of tenants. */
  readonly #scopes = new Map<string | null, ScopeGroup>();

  constructor(name: StreamName, isPrivate: boolean) {
    this.name = name;
    this.isPrivate = isPrivate;
  }

  /** Adds the client to its tenant's group; returns the snapshot to send it, if anything was published yet. */
  subscribe(client: StreamClient): Buffer | undefined {
    const group = this.#group(client.tenant);
    group.subscribers.add(client);
    return group.last;
  }

  unsubscribe(client: StreamClient): void {
    this.#scopes.get(client.tenant)?.subscribers.delete(client);
  }

  /** Keeps `message` as the scope's snapshot and returns who should receive it now. */
  record(tenant: string | null, message: Buffer): ReadonlySet<StreamClient> {
    const group = this.#group(tenant);
    group.last = message;
    return group.subscribers;
  }

  #group(tenant: string | null): ScopeGroup {
    let group = this.#scopes.get(tenant);
    if (group === undefined) {
      group = { subscribers: new Set(), last: undefined };
      this.#scopes.set(tenant, group);
    }
    return group;
  }
}
