/**
 * This worker's copy of the live address lists (shared/security-ip-lists.ts), from its state
 * replica: every security stage reads `current` per request, so a change applies to the next
 * request on every route without a reload. Compiled into BlockLists once per change, never per
 * request. A record that cannot be read (an older or hand-edited one) leaves the lists empty
 * rather than stopping the worker.
 */
import { IP_LISTS_ID, IP_LISTS_NAMESPACE, parseIpLists } from '../../shared/security-ip-lists.js';
import type { StateStore } from '../../shared/state/store.js';
import { IpLists } from './ip-lists.js';

const EMPTY = new IpLists([], []);

export class LiveIpLists {
  #current: IpLists = EMPTY;

  get current(): IpLists {
    return this.#current;
  }

  /** Applies a record's value (undefined: none, the lists are empty). */
  apply(value: unknown): void {
    const parsed = value === undefined ? undefined : parseIpLists({ allow: (value as { allow?: unknown }).allow, deny: (value as { deny?: unknown }).deny });
    this.#current = parsed === undefined || 'problems' in parsed ? EMPTY : new IpLists(parsed.allow, parsed.deny);
  }

  /** Follows the replica: each change of the record, and the whole record again after a (re)sync. */
  follow(state: StateStore): () => void {
    const reread = (): void => {
      state.get(IP_LISTS_NAMESPACE, IP_LISTS_ID).then(
        (record) => this.apply(record?.value),
        () => {},
      );
    };
    const offChange = state.onChange((change) => {
      if (change.namespace === IP_LISTS_NAMESPACE && change.id === IP_LISTS_ID) this.apply(change.deleted ? undefined : change.value);
    });
    const offStatus = state.onStatus(reread);
    reread();
    return () => {
      offChange();
      offStatus();
    };
  }
}
