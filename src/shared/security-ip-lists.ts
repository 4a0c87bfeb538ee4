/**
 * The security filter's live address lists (issue 17): CIDR allow and deny entries an operator
 * edits through the admin API (PUT /admin/security/ip-lists) or the main API (PUT
 * /api/security/ip-lists, operators and admins), kept in the state store (Redis when configured,
 * so every instance shares them) and replicated to every worker, which applies them to the next
 * request without a reload. They add to the config's `security.ipAllow` / `security.ipDeny`.
 */
import { isCidr } from './config/schema.js';

/** Replicated to the workers (state/namespaces.ts). */
export const IP_LISTS_NAMESPACE = 'security-ip-lists';
/** The one record of the namespace. */
export const IP_LISTS_ID = 'live';
/** Entries per list at most: a BlockList checks them in order, so the request path pays per entry. */
export const MAX_IP_LIST_ENTRIES = 10_000;

export interface LiveIpListsRecord {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
  readonly updatedAt: string;
  /** Who changed them last (`admin-api` or the API user's email). */
  readonly updatedBy: string;
}

export interface IpListProblem {
  readonly field: string;
  readonly problem: string;
}

/**
 * `{allow, deny}` as sent by a client: the lists trimmed and without duplicates, or the problems,
 * each naming its field (`deny[2]`).
 */
export function parseIpLists(body: unknown): { allow: string[]; deny: string[] } | { problems: IpListProblem[] } {
  const problems: IpListProblem[] = [];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { problems: [{ field: 'body', problem: 'expected an object {allow: [...], deny: [...]}' }] };
  for (const key of Object.keys(body)) if (key !== 'allow' && key !== 'deny') problems.push({ field: key, problem: 'unknown field: only allow and deny' });
  const lists = { allow: [] as string[], deny: [] as string[] };
  for (const name of ['allow', 'deny'] as const) {
    const value = (body as Record<string, unknown>)[name];
    if (value === undefined) continue;
    if (!Array.isArray(value)) {
      problems.push({ field: name, problem: 'expected an array of IP addresses or CIDR blocks' });
      continue;
    }
    if (value.length > MAX_IP_LIST_ENTRIES) problems.push({ field: name, problem: `at most ${MAX_IP_LIST_ENTRIES} entries` });
    const seen = new Set<string>();
    value.forEach((entry: unknown, i) => {
      const text = typeof entry === 'string' ? entry.trim() : undefined;
      if (text === undefined || !isCidr(text)) problems.push({ field: `${name}[${i}]`, problem: `${JSON.stringify(entry)} is not an IP address or CIDR like 10.0.0.0/8` });
      else if (!seen.has(text)) {
        seen.add(text);
        lists[name].push(text);
      }
    });
  }
  return problems.length > 0 ? { problems } : lists;
}
