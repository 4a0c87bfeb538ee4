/**
 * Expired and revoked refresh tokens and stale invites are deleted every 10 minutes, by one
 * instance only (the leader: with Redis every instance shares the records, and one pass is enough).
 */
import type { Logger } from '../../shared/log.js';
import { RefreshTokens } from '../../shared/auth/refresh-tokens.js';
import { Registration } from '../../shared/auth/registration.js';
import { Users } from '../../shared/auth/users.js';
import type { StateStore } from '../../shared/state/store.js';

const EVERY_MS = 10 * 60_000;

export function maintainSessions(store: StateStore, isLeader: () => boolean, log: Logger): () => void {
  const refreshTokens = new RefreshTokens(store);
  const registration = new Registration(store, new Users(store));
  const timer = setInterval(() => {
    if (!isLeader()) return;
    Promise.all([refreshTokens.prune(), registration.pruneInvites()]).then(
      ([tokens, invites]) => {
        if (tokens + invites > 0) log.info({ tokens, invites }, 'pruned expired sessions and invites');
      },
      (err: unknown) => log.warn({ err: (err as Error).message }, 'could not prune sessions and invites; next try in 10 minutes'),
    );
  }, EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
