/**
 * The record the primary writes (namespace `tenant-quotas`, replicated to every worker) when a
 * tenant has used up a hard request quota: the data plane answers its routes 429 until `resetAt`,
 * the end of the billing period. The record is deleted when a new period starts or the quota grows.
 */
export const TENANT_QUOTAS_NAMESPACE = 'tenant-quotas';

export interface QuotaExhausted {
  /** Start of the period it applies to, ms since epoch. */
  periodStart: number;
  /** End of that period: when requests are served again. */
  resetAt: number;
  used: number;
  quota: number;
}
