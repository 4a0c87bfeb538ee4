/**
 * The worker's copy of the primary's once-a-second ApiFeed, and its fan-out to the streams:
 * metrics every feed, backends and health (with the newest alerts) when they change (and at least
 * every 5 s), status every 5 s. One publish per stream per tick for all of the worker's clients; no per-connection timers.
 */
import type { ApiFeed, StreamName } from '../../shared/api-feed.js';
import type { StreamHub } from './streams/stream-hub.js';

/** Backends, health and status go out at least this often even when nothing changed. */
const RESEND_MS = 5000;

export class FeedRelay {
  #latest: ApiFeed | undefined;
  #hub: StreamHub | undefined;
  readonly #lastSent = new Map<StreamName, { json: string; at: number }>();

  /** The newest feed, or undefined in the first moments of a worker's life. */
  get latest(): ApiFeed | undefined {
    return this.#latest;
  }

  attach(hub: StreamHub): void {
    this.#hub = hub;
    if (this.#latest !== undefined) this.#publish(this.#latest);
  }

  receive(feed: ApiFeed): void {
    this.#latest = feed;
    this.#publish(feed);
  }

  #publish(feed: ApiFeed): void {
    const hub = this.#hub;
    if (hub === undefined) return;
    hub.publish('metrics', { totals: feed.metrics.totals, routes: feed.metrics.routes, pools: feed.metrics.pools, backends: feed.metrics.backends, configVersion: feed.configVersion });
    this.#onChange(hub, 'backends', feed.backends, feed.ts, true);
    // Alerts from Alertmanager ride on the health stream (a new one is a change: pushed at once).
    this.#onChange(hub, 'health', { ...feed.health, alerts: feed.alerts }, feed.ts, true);
    this.#onChange(hub, 'status', feed.status, feed.ts, false);
  }

  /** Publishes `data` when it differs from the last one sent (if `onChange`), or when RESEND_MS have passed. */
  #onChange(hub: StreamHub, stream: StreamName, data: unknown, now: number, onChange: boolean): void {
    const json = JSON.stringify(data);
    const last = this.#lastSent.get(stream);
    if (last !== undefined && now - last.at < RESEND_MS && (!onChange || last.json === json)) return;
    this.#lastSent.set(stream, { json, at: now });
    hub.publish(stream, data);
  }
}
