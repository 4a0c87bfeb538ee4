/**
 * Billing: a tenant's metered usage this period against its plan (GET /api/billing/usage, every
 * 5 s): a bar per metric against what the plan includes, the request quota left, the cost so far
 * with its overage lines, usage by route; its invoices (GET /api/billing/history, one invoice's
 * lines on demand); the plans on offer (GET /api/billing/plans) and, for operators, a plan change
 * previewed first (POST /api/billing/upgrade with `preview: true` shows when it applies and the
 * proration lines) and then confirmed. Tenant users see their own tenant; platform users pick one
 * of the tenants that own routes.
 */
import { useState } from 'react';
import { useServices, useSession } from '../app-context.js';
import { permissionsOf } from '../auth/session.js';
import type { InvoiceLine, InvoiceSummary, InvoiceView, PlanSwitchAnswer, PlansAnswer, RouteView, UsageAnswer } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { describeError } from '../api/http.js';
import { Empty, ErrorMessage, Loading } from '../components/states.js';
import { formatBytes, formatCount, formatPercent } from '../format.js';

/** Minor units as money: 2051 USD → $20.51. */
export function formatMoney(minor: number, currency: string): string {
  return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(minor / 100);
}

function UsageBar({ label, used, of, format }: { label: string; used: number; of: number; format: (n: number) => string }) {
  const over = used > of;
  return (
    <div className="usage-bar">
      <div className="usage-bar-label">
        <span>{label}</span>
        <span>
          {format(used)} of {format(of)} {over ? <strong className="text-warn">({format(used - of)} over)</strong> : `(${formatPercent(of === 0 ? 0 : used / of)})`}
        </span>
      </div>
      <progress max={Math.max(of, 1)} value={Math.min(used, of)} aria-label={`${label}: ${format(used)} of ${format(of)}`} />
    </div>
  );
}

export function BillingPage() {
  const session = useSession();
  const own = session.status === 'authenticated' ? session.user.tenant : null;
  const routes = useApi<{ routes: RouteView[] }>(own === null ? '/api/routes' : undefined);
  const tenants = [...new Set((routes.data?.routes ?? []).map((r) => r.tenant).filter((t): t is string => typeof t === 'string'))].sort();
  const [picked, setPicked] = useState<string | undefined>(undefined);
  const tenant = own ?? picked ?? tenants[0];
  const usage = useApi<UsageAnswer>(tenant === undefined ? undefined : `/api/billing/usage?tenant=${encodeURIComponent(tenant)}`, 5000);
  const plans = useApi<PlansAnswer>('/api/billing/plans');
  const canChange = permissionsOf(session.status === 'authenticated' ? session.user : undefined).operate;

  return (
    <>
      <div className="page-head">
        <h1>Billing</h1>
        {own === null && tenants.length > 0 && (
          <label className="inline-field">
            Tenant{' '}
            <select value={tenant} onChange={(e) => setPicked(e.target.value)}>
              {tenants.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </label>
        )}
      </div>
      <section className="panel" aria-labelledby="usage-heading">
        <div className="panel-head">
          <h2 id="usage-heading">Usage this period{usage.data !== undefined && <> · {usage.data.tenant}</>}</h2>
          {usage.data !== undefined && (
            <span className="muted">
              {new Date(usage.data.period.start).toLocaleString()} – {new Date(usage.data.period.end).toLocaleString()}
            </span>
          )}
        </div>
        {tenant === undefined ? (
          routes.data === undefined && routes.error === undefined ? <Loading what="tenants" /> : <Empty>No route names a tenant: there is no usage to bill.</Empty>
        ) : usage.error !== undefined ? (
          <ErrorMessage onRetry={usage.reload}>Could not read the usage: {describeError(usage.error)}</ErrorMessage>
        ) : usage.data === undefined ? (
          <Loading what="usage" />
        ) : (
          <UsageDetails usage={usage.data} />
        )}
      </section>
      {tenant !== undefined && <InvoicesPanel tenant={tenant} />}
      {tenant !== undefined && canChange && plans.data !== undefined && plans.data.plans.length > 1 && usage.data !== undefined && (
        <PlanChangePanel tenant={tenant} plans={plans.data} current={usage.data.plan?.id} onChanged={usage.reload} />
      )}
      <section className="panel" aria-labelledby="plans-heading">
        <div className="panel-head">
          <h2 id="plans-heading">Plans</h2>
        </div>
        {plans.error !== undefined ? (
          <ErrorMessage onRetry={plans.reload}>Could not read the plans: {describeError(plans.error)}</ErrorMessage>
        ) : plans.data === undefined ? (
          <Loading what="plans" />
        ) : plans.data.plans.length === 0 ? (
          <Empty>No plans are configured (billing.plans).</Empty>
        ) : (
          <div className="table-scroll" tabIndex={0} role="region" aria-label="Plans">
            <table>
              <thead>
                <tr>
                  <th scope="col">Plan</th>
                  <th scope="col" className="num">Price per period</th>
                  <th scope="col" className="num">Included requests</th>
                  <th scope="col" className="num">Included bytes</th>
                  <th scope="col" className="num">Requests/s</th>
                  <th scope="col" className="num">Quota</th>
                </tr>
              </thead>
              <tbody>
                {plans.data.plans.map((plan) => (
                  <tr key={plan.id}>
                    <th scope="row">
                      {plan.name} <span className="muted">{plan.id}</span>
                      {plan.id === plans.data!.defaultPlan && <span className="tag">default</span>}
                    </th>
                    <td className="num">{formatMoney(plan.price, plan.currency)}</td>
                    <td className="num">{formatCount(plan.included.requests)}</td>
                    <td className="num">{formatBytes(plan.included.bytes)}</td>
                    <td className="num">{plan.limits.requestsPerSecond === undefined ? 'unlimited' : formatCount(plan.limits.requestsPerSecond)}</td>
                    <td className="num">{plan.limits.monthlyRequests === undefined ? 'none' : `${formatCount(plan.limits.monthlyRequests)} (${plan.limits.quota})`}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}

function UsageDetails({ usage }: { usage: UsageAnswer }) {
  const { plan, included, quota, costSoFar } = usage;
  const lines = costSoFar === null ? [] : [...costSoFar.lines.requests.map((l) => ({ ...l, what: 'requests' })), ...costSoFar.lines.bytes.map((l) => ({ ...l, what: 'bytes' }))];
  return (
    <>
      <dl className="facts">
        <dt>Plan</dt>
        <dd>{plan === null ? 'none (no billing plan applies)' : `${plan.name} · ${formatMoney(plan.price, plan.currency)} per period`}</dd>
        <dt>Cost so far</dt>
        <dd>{costSoFar === null ? '–' : <strong>{formatMoney(costSoFar.amount, costSoFar.currency)}</strong>}</dd>
        <dt>Requests</dt>
        <dd>{formatCount(usage.usage.requests)}</dd>
        <dt>Bytes in / out</dt>
        <dd>
          {formatBytes(usage.usage.bytesIn)} / {formatBytes(usage.usage.bytesOut)}
        </dd>
        <dt>WebSocket messages</dt>
        <dd>{formatCount(usage.usage.websocketMessages)}</dd>
      </dl>
      {included !== null && (
        <div className="usage-bars">
          {included.requests > 0 && <UsageBar label="Requests against the plan" used={usage.usage.requests} of={included.requests} format={formatCount} />}
          {included.bytes > 0 && <UsageBar label="Bytes against the plan" used={usage.usage.bytesIn + usage.usage.bytesOut} of={included.bytes} format={formatBytes} />}
          {quota !== null && <UsageBar label={`Request quota (${quota.mode})`} used={quota.used} of={quota.limit} format={formatCount} />}
        </div>
      )}
      {lines.length > 0 && costSoFar !== null && (
        <div className="table-scroll" tabIndex={0} role="region" aria-label="Overage charges">
          <table>
            <caption>Overage so far</caption>
            <thead>
              <tr>
                <th scope="col">Metric</th>
                <th scope="col" className="num">Quantity</th>
                <th scope="col" className="num">Price</th>
                <th scope="col" className="num">Amount</th>
              </tr>
            </thead>
            <tbody>
              {lines.map((line, i) => (
                <tr key={i}>
                  <td>{line.what}</td>
                  <td className="num">{line.what === 'bytes' ? formatBytes(line.quantity) : formatCount(line.quantity)}</td>
                  <td className="num">
                    {formatMoney(line.price, costSoFar.currency)} per {line.what === 'bytes' ? formatBytes(line.per) : formatCount(line.per)}
                  </td>
                  <td className="num">{formatMoney(line.amount, costSoFar.currency)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {Object.keys(usage.routes).length > 0 && (
        <div className="table-scroll" tabIndex={0} role="region" aria-label="Usage by route">
          <table>
            <caption>By route</caption>
            <thead>
              <tr>
                <th scope="col">Route</th>
                <th scope="col" className="num">Requests</th>
                <th scope="col" className="num">Bytes in</th>
                <th scope="col" className="num">Bytes out</th>
                <th scope="col" className="num">WebSocket messages</th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(usage.routes).map(([route, u]) => (
                <tr key={route}>
                  <th scope="row">
                    <code>{route}</code>
                  </th>
                  <td className="num">{formatCount(u.requests)}</td>
                  <td className="num">{formatBytes(u.bytesIn)}</td>
                  <td className="num">{formatBytes(u.bytesOut)}</td>
                  <td className="num">{formatCount(u.websocketMessages)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p className="muted">As of {new Date(usage.asOf).toLocaleTimeString()}; usage follows traffic by a second or two.</p>
    </>
  );
}

function InvoicesPanel({ tenant }: { tenant: string }) {
  const history = useApi<{ invoices: InvoiceSummary[] }>(`/api/billing/history?tenant=${encodeURIComponent(tenant)}`, 10_000);
  const [open, setOpen] = useState<number | undefined>(undefined);
  return (
    <section className="panel" aria-labelledby="invoices-heading">
      <div className="panel-head">
        <h2 id="invoices-heading">Invoices</h2>
        <span className="muted">closed at the end of each period, numbered without gaps</span>
      </div>
      {history.error !== undefined ? (
        <ErrorMessage onRetry={history.reload}>Could not read the invoices: {describeError(history.error)}</ErrorMessage>
      ) : history.data === undefined ? (
        <Loading what="invoices" />
      ) : history.data.invoices.length === 0 ? (
        <Empty>No invoice yet: the first one is issued when this period ends.</Empty>
      ) : (
        <div className="table-scroll" tabIndex={0} role="region" aria-label="Invoices">
          <table>
            <thead>
              <tr>
                <th scope="col">Number</th>
                <th scope="col">Period</th>
                <th scope="col">Plan</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">Total</th>
                <th scope="col">Lines</th>
              </tr>
            </thead>
            <tbody>
              {history.data.invoices.map((invoice) => (
                <tr key={invoice.number} data-invoice={invoice.number}>
                  <th scope="row">#{invoice.number}</th>
                  <td>
                    {new Date(invoice.period.start).toLocaleDateString()} – {new Date(invoice.period.end).toLocaleDateString()}
                  </td>
                  <td>{invoice.plan?.name ?? '–'}</td>
                  <td>
                    <span className={`tag${invoice.status === 'open' ? ' tag-info' : ''}`}>{invoice.status}</span>
                  </td>
                  <td className="num">{formatMoney(invoice.total, invoice.currency)}</td>
                  <td>
                    <button type="button" className="button small" aria-expanded={open === invoice.number} onClick={() => setOpen(open === invoice.number ? undefined : invoice.number)}>
                      {open === invoice.number ? 'Hide' : 'Show'} lines of #{invoice.number}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {open !== undefined && <InvoiceLines number={open} />}
    </section>
  );
}

function InvoiceLines({ number }: { number: number }) {
  const invoice = useApi<InvoiceView>(`/api/billing/invoices/${number}`);
  if (invoice.error !== undefined) return <ErrorMessage onRetry={invoice.reload}>Could not read invoice #{number}: {describeError(invoice.error)}</ErrorMessage>;
  if (invoice.data === undefined) return <Loading what={`invoice #${number}`} />;
  return <LinesTable caption={`Invoice #${number}`} lines={invoice.data.lines} currency={invoice.data.currency} total={invoice.data.total} />;
}

function LinesTable({ caption, lines, currency, total }: { caption: string; lines: InvoiceLine[]; currency: string; total: number }) {
  return (
    <div className="table-scroll" tabIndex={0} role="region" aria-label={caption}>
      <table>
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Line</th>
            <th scope="col" className="num">Quantity</th>
            <th scope="col" className="num">Unit price</th>
            <th scope="col" className="num">Amount</th>
          </tr>
        </thead>
        <tbody>
          {lines.map((line, i) => (
            <tr key={i}>
              <td>{line.description}</td>
              <td className="num">{line.metric === 'bytes' ? formatBytes(line.quantity) : formatCount(line.quantity)}</td>
              <td className="num">
                {formatMoney(line.unitPrice, currency)}
                {line.per !== 1 && <> per {line.metric === 'bytes' ? formatBytes(line.per) : formatCount(line.per)}</>}
              </td>
              <td className="num">{formatMoney(line.amount, currency)}</td>
            </tr>
          ))}
          <tr>
            <th scope="row" colSpan={3}>
              Total
            </th>
            <td className="num">
              <strong>{formatMoney(total, currency)}</strong>
            </td>
          </tr>
        </tbody>
      </table>
    </div>
  );
}

/** Preview first (nothing changes), then confirm: the proration lines shown are the ones the API will record. */
function PlanChangePanel({ tenant, plans, current, onChanged }: { tenant: string; plans: PlansAnswer; current: string | undefined; onChanged: () => void }) {
  const { session } = useServices();
  const choices = plans.plans.filter((p) => p.id !== current);
  const [plan, setPlan] = useState(choices[0]?.id ?? '');
  const [immediate, setImmediate] = useState(false);
  const [preview, setPreview] = useState<PlanSwitchAnswer | undefined>(undefined);
  const [message, setMessage] = useState<string | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const call = async (asPreview: boolean) => {
    setBusy(true);
    setError(undefined);
    setMessage(undefined);
    try {
      const answer = await session.api.request<PlanSwitchAnswer>('POST', '/api/billing/upgrade', { plan, tenant, immediate, preview: asPreview });
      if (asPreview) setPreview(answer);
      else {
        setPreview(undefined);
        setMessage(answer.effective === 'now' ? `${tenant} is now on ${answer.to}.` : `${tenant} moves to ${answer.to} on ${new Date(answer.effectiveAt).toLocaleString()}.`);
        onChanged();
      }
    } catch (err) {
      setError(describeError(err instanceof Error ? err : new Error(String(err))));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="panel" aria-labelledby="plan-change-heading">
      <div className="panel-head">
        <h2 id="plan-change-heading">Change plan</h2>
        <span className="muted">dearer plans apply at once with prorations; cheaper ones at the period's end unless immediate</span>
      </div>
      <form
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          void call(true);
        }}
      >
        <label className="inline-field">
          New plan{' '}
          <select
            value={plan}
            onChange={(e) => {
              setPlan(e.target.value);
              setPreview(undefined);
            }}
          >
            {choices.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name} ({formatMoney(p.price, p.currency)})
              </option>
            ))}
          </select>
        </label>
        <label className="inline-field">
          <input
            type="checkbox"
            checked={immediate}
            onChange={(e) => {
              setImmediate(e.target.checked);
              setPreview(undefined);
            }}
          />{' '}
          Immediately
        </label>
        <button type="submit" className="button" disabled={busy || plan === ''}>
          Preview
        </button>
      </form>
      {error !== undefined && <ErrorMessage>{error}</ErrorMessage>}
      {message !== undefined && (
        <p className="state" role="status">
          {message}
        </p>
      )}
      {preview !== undefined && (
        <div className="preview" role="region" aria-label="Plan change preview">
          <p>
            {preview.from || 'no plan'} → <strong>{preview.to}</strong>,{' '}
            {preview.effective === 'now' ? 'at once' : `at the period's end (${new Date(preview.effectiveAt).toLocaleString()})`}.
          </p>
          {preview.prorations.length > 0 ? (
            <LinesTable caption="Prorations on this period's invoice" lines={preview.prorations} currency={preview.currency} total={preview.prorationTotal} />
          ) : (
            <p className="muted">No proration: the new plan's fee starts with the next period.</p>
          )}
          <button type="button" className="button primary" disabled={busy} onClick={() => void call(false)}>
            Confirm the change to {preview.to}
          </button>
        </div>
      )}
    </section>
  );
}
