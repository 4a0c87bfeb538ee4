/** One call to a JSON API in tests: method from the body, bearer token, parsed answer. */

export interface ApiCall {
  method?: string;
  token?: string;
  body?: unknown;
}

export interface ApiAnswer {
  status: number;
  body: any;
}

/** A new connection per call (`connection: close`), so calls reach every worker in turn. */
export async function apiCall(baseUrl: string, path: string, init: ApiCall = {}): Promise<ApiAnswer> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { connection: 'close', ...(init.token !== undefined ? { authorization: `Bearer ${init.token}` } : {}), ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

/** For set-up steps: the answer when it has `status`, else an error naming `what` with the body. */
export function expectStatus(answer: ApiAnswer, status: number, what: string): ApiAnswer {
  if (answer.status !== status) throw new Error(`${what}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer;
}
