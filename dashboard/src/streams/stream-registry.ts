/**
 * One StreamSocket per stream for the whole page, opened while some component reads it: the
 * header's connection badge and a page showing the same stream share one connection.
 */
import type { Session } from '../auth/session.js';
import { StreamSocket } from './stream-socket.js';

/** The feed streams (src/shared/api-feed.ts API_STREAMS) and how often each is published (feed-relay.ts). */
export const FEED_STREAMS = { metrics: 1000, backends: 5000, status: 5000, health: 5000, ai: 5000 } as const;
export type FeedStream = keyof typeof FEED_STREAMS;

/** Late by this many periods (plus slack for a busy machine) counts as stale. */
const STALE_PERIODS = 2.5;

export class StreamRegistry {
  readonly #session: Session;
  readonly #sockets = new Map<FeedStream, { socket: StreamSocket<unknown>; users: number }>();

  constructor(session: Session) {
    this.#session = session;
  }

  /** The stream's socket, started on first use; call the returned release when done. */
  acquire<T>(name: FeedStream): { socket: StreamSocket<T>; release: () => void } {
    let entry = this.#sockets.get(name);
    if (entry === undefined) {
      const socket = new StreamSocket<unknown>(name, {
        token: () => this.#session.token(),
        renewToken: () => this.#session.renew(),
        staleAfterMs: FEED_STREAMS[name] * STALE_PERIODS + 1000,
      });
      entry = { socket, users: 0 };
      this.#sockets.set(name, entry);
      socket.start();
    }
    entry.users++;
    const held = entry;
    let released = false;
    return {
      socket: held.socket as StreamSocket<T>,
      release: () => {
        if (released) return;
        released = true;
        held.users--;
        // Kept a moment: navigating between pages that both read a stream should not reconnect it.
        setTimeout(() => {
          if (held.users > 0 || this.#sockets.get(name) !== held) return;
          this.#sockets.delete(name);
          held.socket.stop();
        }, 2000);
      },
    };
  }

  /** After login or logout: every stream reconnects with the new identity. */
  closeAll(): void {
    for (const { socket } of this.#sockets.values()) socket.stop();
    this.#sockets.clear();
  }
}
