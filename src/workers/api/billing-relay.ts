/**
 * The worker's side of the billing stream (`/api/ws/billing`, private): each feed from the primary
 * (shared/billing/billing-feed.ts) is published as one view. A tenant's users get
 * `{tenant, usage, events}` with their own tenant's usage summary and events only; users without a
 * tenant get `{tenants, events}` for all. The first message after `auth_ok` is the latest feed (the
 * usage snapshot), then one every couple of seconds, and one at once for each warning or invoice.
 */
import type { BillingFeed } from '../../shared/billing/billing-feed.js';
import type { StreamAudience } from './streams/stream-channel.js';
import type { StreamHub } from './streams/stream-hub.js';

export class BillingRelay {
  #hub: StreamHub | undefined;
  #latest: BillingFeed | undefined;

  attach(hub: StreamHub): void {
    this.#hub = hub;
    if (this.#latest !== undefined) this.#publish(this.#latest);
  }

  receive(feed: BillingFeed): void {
    this.#latest = feed;
    this.#publish(feed);
  }

  #publish(feed: BillingFeed): void {
    this.#hub?.publish('billing', (audience: StreamAudience) => {
      if (audience === null) return { tenants: feed.tenants, events: feed.events };
      if (typeof audience !== 'string') return undefined;
      return { tenant: audience, usage: feed.tenants[audience] ?? null, events: feed.events.filter((e) => e.tenant === audience) };
    });
  }
}
