/**
 * Expired and revoked refresh tokens, stale invites and expired Idempotency-Key records are deleted
 * every 10 minutes, by one instance only (the leader: with Redis every instance shares the records,
 * and one pass is enough).
 */
import type { Logger } from '../../shared/log.js';
import { RefreshTokens } from '../../shared/auth/refresh-tokens.js';
import { Registration } from '../../shared/auth/registration.js';
import { Users } from '../../shared/auth/users.js';
import { IdempotentRequests } from '../../shared/http/idempotency.js';
import type { StateStore } from '../../shared/state/store.js';

const EVERY_MS = 10 * 60_000;

export function maintainSessions(store: StateStore, isLeader: () => boolean, log: Logger): () => void {
  const refreshTokens = new RefreshTokens(store);
  const registration = new Registration(store, new Users(store));
  const idempotency = new IdempotentRequests(store);
  const timer = setInterval(() => {
    if (!isLeader()) return;
    Promise.all([refreshTokens.prune(), registration.pruneInvites(), idempotency.prune()]).then(
      ([tokens, invites, idempotencyKeys]) => {
        if (tokens + invites + idempotencyKeys > 0) log.info({ tokens, invites, idempotencyKeys }, 'pruned expired sessions, invites and idempotency keys');
      },
      (err: unknown) => log.warn({ err: (err as Error).message }, 'could not prune sessions and invites; next try in 10 minutes'),
    );
  }, EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
