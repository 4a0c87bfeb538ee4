/**
 * A tenant's request quota reached 80% or 100% in a period (issue 16), hard or soft alike: the
 * leader writes one record per tenant, period and threshold (namespace `quota-warnings`, created
 * once: the record is what makes the warning happen once), which raises the `quota.warning`
 * webhook event and the billing stream's warning.
 */
export const QUOTA_WARNINGS_NAMESPACE = 'quota-warnings';
export const QUOTA_THRESHOLDS = [80, 100] as const;

export interface QuotaWarning {
  tenant: string;
  /** Percent of the quota. */
  threshold: (typeof QUOTA_THRESHOLDS)[number];
  used: number;
  quota: number;
  mode: 'hard' | 'soft';
  periodStart: number;
  periodEnd: number;
  at: string;
}

export const quotaWarningId = (w: Pick<QuotaWarning, 'periodStart' | 'tenant' | 'threshold'>): string => `${w.periodStart}.${w.tenant}.${w.threshold}`;
