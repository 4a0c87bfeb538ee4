/**
 * Calls to the main API, always same-origin (`/api/...`): the dashboard server forwards them, so
 * the app works opened on :3000 and through the load balancer alike. Every failure becomes an
 * ApiError carrying the API's `{error: {code, message, fields?, problems?}}` as data, so forms
 * show problems next to their fields without reading meaning out of message text.
 */

export interface FieldProblem {
  /** As the API names it: `body.email`, `body.limits.requestsPerSecond`. */
  field: string;
  problem: string;
}

export class ApiError extends Error {
  readonly status: number;
  /** `VF_ERR_...`, or `VF_ERR_NETWORK` when no answer came. */
  readonly code: string;
  readonly fields: readonly FieldProblem[];
  /** Config problems (`pools[0].backends[1].url: ...`) when a change would make the config invalid. */
  readonly problems: readonly string[];

  constructor(status: number, code: string, message: string, fields: readonly FieldProblem[] = [], problems: readonly string[] = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.problems = problems;
  }
}

export interface TokenSource {
  /** The access token in memory, if logged in. */
  token(): string | undefined;
  /** Gets a new access token after a 401; resolves false when the session is over. */
  renew(): Promise<boolean>;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export class ApiClient {
  readonly #tokens: TokenSource;

  constructor(tokens: TokenSource) {
    this.#tokens = tokens;
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, undefined, signal);
  }

  /** One retry after renewing the token when a call that carried one is answered 401 (it expired). */
  async request<T>(method: Method, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const token = this.#tokens.token();
    try {
      return await send<T>(method, path, body, token, signal);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401 || token === undefined) throw err;
      if (!(await this.#tokens.renew())) throw err;
      return send<T>(method, path, body, this.#tokens.token(), signal);
    }
  }
}

/** One HTTP exchange; also used by the session for login and refresh (which carry no bearer token). */
export async function send<T>(method: Method, path: string, body: unknown, token: string | undefined, signal?: AbortSignal, extraHeaders: Record<string, string> = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...extraHeaders };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}), ...(signal !== undefined ? { signal } : {}) });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiError(0, 'VF_ERR_NETWORK', 'VeloFlux did not answer (network error)');
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (res.ok) return parsed as T;
  const error = (parsed as { error?: { code?: unknown; message?: unknown; fields?: unknown; problems?: unknown } } | undefined)?.error;
  if (error === undefined) throw new ApiError(res.status, `HTTP_${res.status}`, `VeloFlux answered ${res.status} ${res.statusText}`.trim());
  return Promise.reject(
    new ApiError(
      res.status,
      typeof error.code === 'string' ? error.code : `HTTP_${res.status}`,
      typeof error.message === 'string' ? error.message : `HTTP ${res.status}`,
      Array.isArray(error.fields) ? (error.fields as FieldProblem[]) : [],
      Array.isArray(error.problems) ? (error.problems as string[]) : [],
    ),
  );
}

/** A message for people, with the code kept for support. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) return err.code.startsWith('VF_ERR_') ? `${err.message} (${err.code})` : err.message;
  return err instanceof Error ? err.message : String(err);
}
