/**
 * Hands the API feed to the workers: each one built goes to every worker, and the latest to a
 * worker that (re)starts, so its API answers with data at once rather than after the next tick.
 */
import { primaryMessage } from '../../shared/ipc.js';
import type { ApiFeed } from '../../shared/api-feed.js';
import type { WorkerLink } from '../state/state-service.js';

export class FeedPublisher {
  readonly #link: WorkerLink;
  #latest: ApiFeed | undefined;

  constructor(link: WorkerLink) {
    this.#link = link;
  }

  publish(feed: ApiFeed): void {
    this.#latest = feed;
    this.#link.broadcast(primaryMessage({ type: 'api-feed', feed }));
  }

  /** A worker said hello: give it the latest feed, if there is one yet. */
  greet(workerId: number): void {
    if (this.#latest !== undefined) this.#link.sendTo(workerId, primaryMessage({ type: 'api-feed', feed: this.#latest }));
  }
}
