/**
 * The login session. The access token lives in memory only (never localStorage, where any script
 * could read it); the refresh token lives in an HttpOnly, SameSite=Strict cookie scoped to
 * /api/auth that scripts cannot read at all (login and refresh send `X-VeloFlux-Refresh: cookie`
 * to ask for that). A page load restores the session by calling refresh; the token is renewed
 * before it expires and after any 401.
 */
import { ApiClient, ApiError, send, type TokenSource } from '../api/http.js';
import type { Role, SessionAnswer, User } from '../api/types.js';

export type SessionState =
  | { readonly status: 'restoring' }
  | { readonly status: 'anonymous'; readonly notice?: string }
  | { readonly status: 'authenticated'; readonly user: User; readonly accessToken: string };

const COOKIE_MODE = { 'x-veloflux-refresh': 'cookie' } as const;
/** Renew when this share of the token's lifetime has passed, leaving room for a slow answer. */
const RENEW_AT = 0.75;

export class Session implements TokenSource {
  #state: SessionState = { status: 'restoring' };
  readonly #listeners = new Set<() => void>();
  #renewTimer: ReturnType<typeof setTimeout> | undefined;
  #renewing: Promise<boolean> | undefined;
  readonly api: ApiClient = new ApiClient(this);

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  readonly getState = (): SessionState => this.#state;

  token(): string | undefined {
    return this.#state.status === 'authenticated' ? this.#state.accessToken : undefined;
  }

  /** On page load: the cookie (if any) gives the session back. */
  async restore(): Promise<void> {
    await this.renew();
  }

  async login(email: string, password: string): Promise<User> {
    const answer = await send<SessionAnswer>('POST', '/api/auth/login', { email, password }, undefined, undefined, COOKIE_MODE);
    this.#accept(answer);
    return answer.user;
  }

  /**
   * One renewal at a time: concurrent 401s share it, and other tabs of the dashboard wait for it
   * (Web Locks, where the page is a secure context), because the cookie rotates and presenting a
   * used one ends the whole session.
   */
  renew(): Promise<boolean> {
    if (this.#renewing === undefined) {
      const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
      const run =
        locks === undefined
          ? this.#refresh()
          : new Promise<boolean>((resolve, reject) => {
              // The lock is held until the refresh settles; the next tab then sends the rotated cookie.
              locks.request('veloflux-session-refresh', () => this.#refresh().then(resolve, reject)).catch(reject);
            });
      this.#renewing = run.finally(() => (this.#renewing = undefined));
    }
    return this.#renewing;
  }

  async logout(): Promise<void> {
    const token = this.token();
    this.#set({ status: 'anonymous', notice: 'You are logged out.' });
    // The API ends the session (and clears the cookie); the page forgets the token either way.
    if (token !== undefined) await send('GET', '/api/auth/logout', undefined, token, undefined, COOKIE_MODE).catch(() => undefined);
  }

  async #refresh(): Promise<boolean> {
    try {
      this.#accept(await send<SessionAnswer>('POST', '/api/auth/refresh', {}, undefined, undefined, COOKIE_MODE));
      return true;
    } catch (err) {
      const wasIn = this.#state.status === 'authenticated';
      // A network error keeps the current token: the API may be restarting, and the token may still be good.
      if (err instanceof ApiError && err.code === 'VF_ERR_NETWORK' && wasIn) {
        this.#schedule(5);
        return false;
      }
      this.#set({ status: 'anonymous', ...(wasIn ? { notice: 'Your session ended. Please log in again.' } : {}) });
      return false;
    }
  }

  #accept(answer: SessionAnswer): void {
    this.#set({ status: 'authenticated', user: answer.user, accessToken: answer.accessToken });
    this.#schedule(answer.expiresIn * RENEW_AT);
  }

  #schedule(seconds: number): void {
    clearTimeout(this.#renewTimer);
    this.#renewTimer = setTimeout(() => void this.renew(), Math.max(1, seconds) * 1000);
  }

  #set(state: SessionState): void {
    if (state.status !== 'authenticated') clearTimeout(this.#renewTimer);
    this.#state = state;
    for (const listener of this.#listeners) listener();
  }
}

/** What each role may do in the UI; the API enforces the same rules on its own. */
export function permissionsOf(user: User | undefined) {
  const role: Role | undefined = user?.role;
  return {
    operate: role === 'admin' || role === 'operator',
    administer: role === 'admin',
    /** Logs and instance-wide data are for admins without a tenant. */
    platformAdmin: role === 'admin' && user?.tenant === null,
  } as const;
}
