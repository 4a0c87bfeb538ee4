/**
 * Namespaces of the state store whose records every worker holds a replica of, because the
 * request path reads them (who a token belongs to, whether its session ended, which tenant owns a
 * route) and must not wait for the primary to answer. Other namespaces (usage counters, the
 * runtime config, which reaches workers as config snapshots) are read on request.
 * `ended-sessions` is refresh-tokens.ts ENDED_SESSIONS_NAMESPACE: small, each record lives one
 * access-token lifetime.
 */
export const REPLICATED_NAMESPACES: readonly string[] = ['users', 'tenants', 'ended-sessions'];
