/**
 * The refresh token as an HttpOnly cookie, for browsers (the dashboard): a script on the page
 * (an XSS) cannot read it, and the access token lives only in the page's memory, so a reload
 * trades the cookie for a new access token. A client asks for this with the header
 * `X-VeloFlux-Refresh: cookie` on login and refresh; without it the API answers as before (the
 * refresh token in the JSON body, for scripts and CLIs).
 *
 * CSRF: the cookie is SameSite=Strict and scoped to /api/auth, and it is only read when that
 * custom header is present, which a cross-site form cannot send and a cross-site fetch cannot
 * send without a CORS preflight this API does not grant to origins it does not list.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export const REFRESH_COOKIE = 'vf_refresh';
const PATH = '/api/auth';

export function wantsRefreshCookie(request: FastifyRequest): boolean {
  return request.headers['x-veloflux-refresh'] === 'cookie';
}

/** The cookie's token, when the request opted in and carries one. */
export function refreshCookieOf(request: FastifyRequest): string | undefined {
  if (!wantsRefreshCookie(request)) return undefined;
  for (const pair of (request.headers.cookie ?? '').split(';')) {
    const eq = pair.indexOf('=');
    if (eq !== -1 && pair.slice(0, eq).trim() === REFRESH_COOKIE) return decodeURIComponent(pair.slice(eq + 1).trim()) || undefined;
  }
  return undefined;
}

export function setRefreshCookie(request: FastifyRequest, reply: FastifyReply, token: string, maxAgeSeconds: number): void {
  const secure = request.protocol === 'https' ? '; Secure' : '';
  void reply.header('set-cookie', `${REFRESH_COOKIE}=${encodeURIComponent(token)}; Path=${PATH}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure}`);
}

export function clearRefreshCookie(reply: FastifyReply): void {
  void reply.header('set-cookie', `${REFRESH_COOKIE}=; Path=${PATH}; Max-Age=0; HttpOnly; SameSite=Strict`);
}
