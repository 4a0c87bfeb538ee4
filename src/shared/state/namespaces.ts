/**
 * Namespaces of the state store whose records every worker holds a replica of, because the
 * request path reads them (who a token belongs to, whether its session ended, which tenant owns a
 * route) and must not wait for the primary to answer. Other namespaces (usage counters, the
 * runtime config, which reaches workers as config snapshots) are read on request.
 * `ended-sessions` is refresh-tokens.ts ENDED_SESSIONS_NAMESPACE: small, each record lives one
 * access-token lifetime. `tenant-quotas` holds one record per tenant whose hard request quota is
 * used up for the current period (the data plane refuses its routes until the period ends).
 * The security events and their per-minute counts (shared/security-events.ts) are bounded (at most
 * 20 pages and 60 minutes) and read by the API and the security stream on every worker; the live
 * address lists (security-ip-lists.ts) by the security stage on every request.
 */
import { SECURITY_EVENTS_NAMESPACE, SECURITY_MINUTES_NAMESPACE } from '../security-events.js';
import { IP_LISTS_NAMESPACE } from '../security-ip-lists.js';

/** Tenant records (workers/api/tenants.ts writes them; the data plane reads status and plan). */
export const TENANTS_NAMESPACE = 'tenants';

export const REPLICATED_NAMESPACES: readonly string[] = ['users', 'tenants', 'ended-sessions', 'tenant-quotas', SECURITY_EVENTS_NAMESPACE, SECURITY_MINUTES_NAMESPACE, IP_LISTS_NAMESPACE];
