/**
 * Billing: a tenant's metered usage this period against its plan (GET /api/billing/usage, every
 * 5 s): a bar per metric against what the plan includes, the request quota left, the cost so far
 * with its overage lines, usage by route; and the plans on offer (GET /api/billing/plans). Tenant
 * users see their own tenant; platform users pick one of the tenants that own routes.
 */
import { useState } from 'react';
import { useSession } from '../app-context.js';
import type { PlansAnswer, RouteView, UsageAnswer } from '../api/types.js';
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
          <UsageBar label="Requests against the plan" used={usage.usage.requests} of={included.requests} format={formatCount} />
          <UsageBar label="Bytes against the plan" used={usage.usage.bytesIn + usage.usage.bytesOut} of={included.bytes} format={formatBytes} />
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
