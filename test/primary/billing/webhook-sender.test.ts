/** The billing webhook's backoff and signature, by hand. */
import t from 'tap';
import { createHmac } from 'node:crypto';
import { backoffMs, MAX_BACKOFF_MS } from '../../../src/primary/billing/webhook-sender.js';
import { billingEventId, signatureHeader } from '../../../src/shared/billing/billing-events.js';

t.test('exponential backoff from 1 s, capped at an hour, with at most 20% jitter', async (t) => {
  t.same([1, 2, 3, 4, 5].map((n) => backoffMs(n, 0)), [1000, 2000, 4000, 8000, 16_000]);
  t.equal(backoffMs(1, 1), 1200, 'jitter adds up to 20%');
  t.equal(backoffMs(30, 0), MAX_BACKOFF_MS);
  t.equal(backoffMs(100, 0), MAX_BACKOFF_MS, 'no overflow for many attempts');
});

t.test('the signature is t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">', async (t) => {
  const body = '{"id":"evt_invoice_7","type":"invoice.closed"}';
  const expected = createHmac('sha256', 'whsec').update(`1700000000.${body}`).digest('hex');
  t.equal(signatureHeader('whsec', 1_700_000_000, body), `t=1700000000,v1=${expected}`);
  t.equal(billingEventId('quota', 'acme co', 1200, 80), 'evt_quota_acme_co_1200_80', 'ids hold header-safe characters only');
});
