/**
 * `billing` (dynamic): the plans tenants subscribe to and the billing period. Every amount is an
 * integer in the currency's minor unit (cents), never a float, so a sum of line items is exact.
 * Overage is priced in graduated tiers (as Stripe's graduated pricing): each tier prices the units
 * that fall inside it, `price` per `per` units; a first tier with price 0 expresses "included,
 * then overage" when the plan's `included` amount is not enough.
 */
import { z } from 'zod';
import { duration, size } from './units.js';

const planId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, "_" or "-"');
/** Minor units (cents): up to 10^12, so totals of many lines stay exact in a double. */
const amount = z.number().int().min(0).max(1e12);

const tier = z.strictObject({
  /** Units (beyond `included`) up to which this tier applies; absent on the last tier (no upper bound). */
  upTo: z.number().int().min(1).optional(),
  /** Price for every `per` units in this tier, in minor units; partial blocks are charged pro rata, rounded up to a whole minor unit. */
  price: amount,
  per: size.default(1),
});

const tiers = z
  .array(tier)
  .min(1)
  .superRefine((list, ctx) => {
    list.forEach((t, i) => {
      const last = i === list.length - 1;
      if (!last && t.upTo === undefined) ctx.addIssue({ code: 'custom', path: [i, 'upTo'], message: 'only the last tier may be open-ended' });
      if (last && t.upTo !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'upTo'], message: 'the last tier must be open-ended (no upTo)' });
      const before = list[i - 1]?.upTo;
      if (before !== undefined && t.upTo !== undefined && t.upTo <= before) ctx.addIssue({ code: 'custom', path: [i, 'upTo'], message: `must be above the previous tier's upTo (${before})` });
    });
  });

const plan = z.strictObject({
  id: planId,
  name: z.string().min(1).max(100),
  /** The fee for one billing period. */
  price: amount.default(0),
  currency: z.string().regex(/^[A-Z]{3}$/, 'expected an ISO 4217 code like USD').default('USD'),
  /** Usage the fee covers in each period. */
  included: z.strictObject({ requests: z.number().int().min(0).default(0), bytes: size.default(0) }).prefault({}),
  /** How usage beyond `included` is priced; a metric without tiers is not charged beyond it. */
  overage: z.strictObject({ requests: tiers.optional(), bytes: tiers.optional() }).prefault({}),
  limits: z
    .strictObject({
      /** Through the cluster-wide rate limiter, one bucket per tenant. */
      requestsPerSecond: z.number().int().min(1).max(1_000_000_000).optional(),
      burst: z.number().int().min(1).max(1_000_000_000).optional(),
      /** Requests per billing period (the name the tenant records use). */
      monthlyRequests: z.number().int().min(1).optional(),
      /** hard: 429 once the quota is used up; soft: served, with a warning event. */
      quota: z.enum(['hard', 'soft']).default('hard'),
      maxRoutes: z.number().int().min(0).optional(),
      maxBackends: z.number().int().min(0).optional(),
      /** Concurrent WebSocket sessions per tenant. */
      websockets: z.number().int().min(0).optional(),
    })
    .prefault({}),
});

/**
 * Where billing events go (invoice closed, plan changed, quota at 80% / 100%): POSTed as JSON and
 * signed like Stripe's webhooks with the secret read from the environment variable `secretEnv`
 * (never from this file). See primary/billing/webhook-sender.ts.
 */
const webhook = z.strictObject({
  url: z
    .string()
    .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol) && new URL(u).username === '', 'expected an http:// or https:// URL without credentials'),
  secretEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name like VELOFLUX_BILLING_WEBHOOK_SECRET').default('VELOFLUX_BILLING_WEBHOOK_SECRET'),
  /** One attempt's time limit. */
  timeout: duration.prefault('5s'),
});

export const billing = z
  .strictObject({
    /** `month`: calendar months (UTC); a duration: periods of that length from the Unix epoch (for tests and demos). */
    period: z.union([z.literal('month'), duration.refine((ms) => ms >= 1000, 'must be "month" or at least 1s')]).default('month'),
    /** The plan of a tenant whose record names none, or names one this config does not have. */
    defaultPlan: planId.optional(),
    plans: z.array(plan).default([]),
    webhook: webhook.optional(),
  })
  // Unique plan ids and a default plan that exists: references.ts, so they show beside field errors.
  .prefault({});
