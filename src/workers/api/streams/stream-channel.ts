/**
 * One stream's subscribers, grouped by audience, and the newest publish as a view: what each
 * audience sees of it. A group's message is rendered from the view once per publish (shared by the
 * whole group) and on demand for a group that appears between publishes, so a client that connects
 * or authenticates gets its snapshot at once, and audiences nobody listens to cost nothing.
 */
import type { StreamName } from '../../../shared/api-feed.js';
import type { StreamClient } from './stream-client.js';
import { encodeStreamMessage } from './stream-protocol.js';

/** The audience of a client that sent no token (public streams only). */
export const ANONYMOUS: unique symbol = Symbol('anonymous');

/**
 * Who reads a message: ANONYMOUS, null for the whole-cluster view of users without a tenant
 * (platform admins, operators and viewers), or the id of the tenant the user belongs to.
 */
export type StreamAudience = typeof ANONYMOUS | string | null;

/**
 * The data one publish sends each audience, or undefined to send it nothing. A stream's access
 * rules live in its views: an audience receives only what its view returns, never another's data.
 */
export type StreamView = (audience: StreamAudience) => unknown;

interface AudienceGroup {
  readonly subscribers: Set<StreamClient>;
  /** The current view rendered for this audience; undefined when the view gives it nothing. */
  message: Buffer | undefined;
}

export class StreamChannel {
  readonly name: StreamName;
  readonly isPrivate: boolean;
  /** Only audiences with subscribers: bounded by the number of tenants (plus anonymous and platform). */
  readonly #groups = new Map<StreamAudience, AudienceGroup>();
  #view: StreamView | undefined;
  /** What a client that joins gets first, when it differs from the updates (security: recent events, then each new one). */
  #snapshot: StreamView | undefined;
  /** The snapshot rendered per audience since the last publish. */
  readonly #snapshots = new Map<StreamAudience, Buffer | undefined>();
  #viewTs = 0;

  constructor(name: StreamName, isPrivate: boolean) {
    this.name = name;
    this.isPrivate = isPrivate;
  }

  /** Adds the client to its audience's group; returns the snapshot to send it, if anything was published yet. */
  subscribe(client: StreamClient): Buffer | undefined {
    let group = this.#groups.get(client.audience);
    if (group === undefined) {
      group = { subscribers: new Set(), message: this.#render(this.#view, client.audience) };
      this.#groups.set(client.audience, group);
    }
    group.subscribers.add(client);
    if (this.#snapshot === undefined) return group.message;
    if (!this.#snapshots.has(client.audience)) this.#snapshots.set(client.audience, this.#render(this.#snapshot, client.audience));
    return this.#snapshots.get(client.audience);
  }

  unsubscribe(client: StreamClient): void {
    const group = this.#groups.get(client.audience);
    if (group === undefined || !group.subscribers.delete(client)) return;
    // An empty group's message would go stale; it is rendered again if the audience comes back.
    if (group.subscribers.size === 0) this.#groups.delete(client.audience);
  }

  /**
   * Makes `view` the stream's state and hands each subscriber its audience's message (one Buffer per
   * audience). With `snapshot`, `view` is an update and clients that join later get `snapshot` first.
   */
  publish(view: StreamView, ts: number, deliver: (client: StreamClient, message: Buffer) => void, snapshot?: StreamView): void {
    this.#view = view;
    this.#snapshot = snapshot;
    this.#snapshots.clear();
    this.#viewTs = ts;
    for (const [audience, group] of this.#groups) {
      group.message = this.#render(view, audience);
      if (group.message === undefined) continue;
      for (const client of group.subscribers) deliver(client, group.message);
    }
  }

  #render(view: StreamView | undefined, audience: StreamAudience): Buffer | undefined {
    if (view === undefined) return undefined;
    const data = view(audience);
    return data === undefined ? undefined : encodeStreamMessage(this.name, data, this.#viewTs);
  }
}
