/**
 * The worker's copy of the primary's once-a-second ApiFeed, and its fan-out to the streams:
 * metrics every feed, backends and health (with the newest alerts) when they change (and at least
 * every 5 s), status every 5 s, ai when an anomaly starts or ends (and every 5 s). Each publish is a view (feed-views.ts): what each audience may see
 * of it is decided there, and the hub renders it once per audience with subscribers. One publish
 * per stream per tick for all of the worker's clients; no per-connection timers.
 */
import type { ApiFeed, StreamName } from '../../shared/api-feed.js';
import type { VelofluxConfig } from '../../shared/config/schema.js';
import { aiView, backendsView, healthView, metricsView, statusView } from './feed-views.js';
import type { StreamView } from './streams/stream-channel.js';
import type { StreamHub } from './streams/stream-hub.js';

/** Backends, health and status go out at least this often even when nothing changed. */
const RESEND_MS = 5000;

export class FeedRelay {
  #latest: ApiFeed | undefined;
  #hub: StreamHub | undefined;
  #config: (() => Readonly<VelofluxConfig>) | undefined;
  readonly #lastSent = new Map<StreamName, { json: string; at: number }>();

  /** The newest feed, or undefined in the first moments of a worker's life. */
  get latest(): ApiFeed | undefined {
    return this.#latest;
  }

  /** `config` is the config in force: it says which tenant owns which routes, pools and backends. */
  attach(hub: StreamHub, config: () => Readonly<VelofluxConfig>): void {
    this.#hub = hub;
    this.#config = config;
    if (this.#latest !== undefined) this.#publish(this.#latest);
  }

  receive(feed: ApiFeed): void {
    this.#latest = feed;
    this.#publish(feed);
  }

  #publish(feed: ApiFeed): void {
    const hub = this.#hub;
    if (hub === undefined || this.#config === undefined) return;
    const config = this.#config();
    hub.publish('metrics', metricsView(feed.metrics, feed.configVersion, config));
    // Each audience's view is a part of the whole one: when the whole did not change, none did.
    this.#onChange(hub, 'backends', feed.backends, () => backendsView(feed.backends, config), feed.ts, true);
    // Alerts from Alertmanager ride on the health stream (a new one is a change: pushed at once).
    this.#onChange(hub, 'health', { health: feed.health, alerts: feed.alerts }, () => healthView(feed), feed.ts, true);
    this.#onChange(hub, 'status', feed.status, () => statusView(feed.status, config), feed.ts, false);
    // An anomaly that starts or ends goes out at once; scores and forecast-vs-actual every 5 s.
    const ai = feed.ai;
    if (ai !== undefined) this.#onChange(hub, 'ai', { active: ai.active.map((a) => a.id), recent: ai.recent.map((a) => `${a.id}${a.endedAt ?? ''}`) }, () => aiView(ai, config), feed.ts, true);
  }

  /** Publishes the view when `whole` differs from the last one sent (if `onChange`), or when RESEND_MS have passed. */
  #onChange(hub: StreamHub, stream: StreamName, whole: unknown, view: () => StreamView, now: number, onChange: boolean): void {
    const json = JSON.stringify(whole);
    const last = this.#lastSent.get(stream);
    if (last !== undefined && now - last.at < RESEND_MS && (!onChange || last.json === json)) return;
    this.#lastSent.set(stream, { json, at: now });
    hub.publish(stream, view());
  }
}
