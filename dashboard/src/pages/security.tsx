/**
 * Security: the filter's events as they arrive (GET /api/security/events every 3 s: blocked and
 * detected requests with their rules, variables and redacted snippets), the top rules and client
 * addresses among them, blocked/detected per minute (GET /api/security/counts), each route's mode
 * (GET /api/routes), and for operators without a tenant the live IP allow/deny lists
 * (GET/PUT /api/security/ip-lists), applied on every worker without a reload.
 */
import { useEffect, useState } from 'react';
import { useServices, useSession } from '../app-context.js';
import { permissionsOf } from '../auth/session.js';
import type { IpListsView, RouteView, SecurityMinuteView, StoredSecurityEvent } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { describeError } from '../api/http.js';
import { Empty, ErrorMessage, Loading } from '../components/states.js';
import { formatCount } from '../format.js';

/** The n most frequent keys, most frequent first. */
function top(keys: readonly string[], n: number): [string, number][] {
  const counts = new Map<string, number>();
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, n);
}

export function SecurityPage() {
  const session = useSession();
  const user = session.status === 'authenticated' ? session.user : undefined;
  const events = useApi<{ events: StoredSecurityEvent[] }>('/api/security/events?limit=200', 3000);
  const counts = useApi<{ minutes: SecurityMinuteView[] }>('/api/security/counts', 10_000);
  const routes = useApi<{ routes: RouteView[] }>('/api/routes');
  const list = events.data?.events ?? [];
  const lastHour = (counts.data?.minutes ?? []).reduce(
    (sum, minute) => {
      for (const c of Object.values(minute.counts)) {
        sum.blocked += c.blocked;
        sum.detected += c.detected;
      }
      return sum;
    },
    { blocked: 0, detected: 0 },
  );
  return (
    <>
      <div className="page-head">
        <h1>Security</h1>
        <span className="muted">
          last hour: {formatCount(lastHour.blocked)} blocked, {formatCount(lastHour.detected)} detected
        </span>
      </div>
      <section className="panel" aria-labelledby="events-heading">
        <div className="panel-head">
          <h2 id="events-heading">Events</h2>
          <span className="muted">newest first; snippets are redacted, cookies and credentials never quoted</span>
        </div>
        {events.error !== undefined ? (
          <ErrorMessage onRetry={events.reload}>Could not read the events: {describeError(events.error)}</ErrorMessage>
        ) : events.data === undefined ? (
          <Loading what="security events" />
        ) : list.length === 0 ? (
          <Empty>No request was blocked or detected yet.</Empty>
        ) : (
          <div className="table-scroll" tabIndex={0} role="region" aria-label="Security events">
            <table>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Action</th>
                  <th scope="col">Request</th>
                  <th scope="col">Client</th>
                  <th scope="col">Rules (variable: snippet)</th>
                  <th scope="col" className="num">Score</th>
                </tr>
              </thead>
              <tbody>
                {list.slice(0, 50).map((e) => (
                  <tr key={e.id} data-event={e.requestId}>
                    <td>{new Date(e.ts).toLocaleTimeString()}</td>
                    <td>
                      <span className={`tag ${e.action === 'blocked' ? 'tag-bad' : 'tag-info'}`}>{e.action}</span>
                    </td>
                    <td>
                      <code>
                        {e.method} {e.path}
                      </code>
                      <div className="muted">
                        route {e.route}
                        {e.tenant !== null && ` · tenant ${e.tenant}`} · id {e.requestId}
                      </div>
                    </td>
                    <td>{e.client}</td>
                    <td>
                      {e.matches.length === 0
                        ? e.categories.join(', ')
                        : e.matches.map((m) => (
                            <div key={`${m.ruleId}-${m.variable}`}>
                              {m.ruleId} {m.category} · <code>{m.variable}</code>
                              {m.snippet !== '' && (
                                <>
                                  : <code>{m.snippet}</code>
                                </>
                              )}
                            </div>
                          ))}
                    </td>
                    <td className="num">{e.score}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      {list.length > 0 && (
        <div className="panel-grid">
          <TopTable title="Top rules" label="Top rules" rows={top(list.flatMap((e) => e.matches.map((m) => `${m.ruleId} ${m.category}`)), 8)} />
          <TopTable title="Top client addresses" label="Top client addresses" rows={top(list.map((e) => e.client), 8)} />
        </div>
      )}
      <section className="panel" aria-labelledby="modes-heading">
        <div className="panel-head">
          <h2 id="modes-heading">Mode per route</h2>
        </div>
        {routes.data === undefined ? (
          <Loading what="routes" />
        ) : (
          <div className="table-scroll" tabIndex={0} role="region" aria-label="Security mode per route">
            <table>
              <thead>
                <tr>
                  <th scope="col">Route</th>
                  <th scope="col">Pool</th>
                  <th scope="col">Mode</th>
                </tr>
              </thead>
              <tbody>
                {routes.data.routes.map((r) => (
                  <tr key={`${r.host}${r.path}`}>
                    <th scope="row">
                      <code>
                        {r.host}
                        {r.path}
                      </code>
                    </th>
                    <td>{r.pool}</td>
                    <td>{String(r.security ?? 'off')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      {user?.tenant === null && <IpListsPanel canEdit={permissionsOf(user).operate} />}
    </>
  );
}

function TopTable({ title, label, rows }: { title: string; label: string; rows: [string, number][] }) {
  return (
    <section className="panel">
      <h2>{title}</h2>
      <div className="table-scroll" tabIndex={0} role="region" aria-label={label}>
        <table>
          <tbody>
            {rows.map(([key, count]) => (
              <tr key={key}>
                <th scope="row">{key}</th>
                <td className="num">{formatCount(count)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

const lines = (text: string): string[] =>
  text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');

function IpListsPanel({ canEdit }: { canEdit: boolean }) {
  const { session } = useServices();
  const lists = useApi<IpListsView>('/api/security/ip-lists');
  const [allow, setAllow] = useState('');
  const [deny, setDeny] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [saved, setSaved] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (lists.data === undefined) return;
    setAllow(lists.data.allow.join('\n'));
    setDeny(lists.data.deny.join('\n'));
  }, [lists.data]);
  const save = async () => {
    setBusy(true);
    setError(undefined);
    setSaved(undefined);
    try {
      await session.api.request('PUT', '/api/security/ip-lists', { allow: lines(allow), deny: lines(deny) });
      setSaved('Saved: every worker applies the lists to its next request.');
      lists.reload();
    } catch (err) {
      setError(describeError(err instanceof Error ? err : new Error(String(err))));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="panel" aria-labelledby="iplists-heading">
      <div className="panel-head">
        <h2 id="iplists-heading">Live IP lists</h2>
        <span className="muted">addresses or CIDRs, one per line; on top of security.ipAllow / ipDeny from the config</span>
      </div>
      {lists.error !== undefined ? (
        <ErrorMessage onRetry={lists.reload}>Could not read the lists: {describeError(lists.error)}</ErrorMessage>
      ) : lists.data === undefined ? (
        <Loading what="IP lists" />
      ) : (
        <form
          className="ip-lists"
          onSubmit={(e) => {
            e.preventDefault();
            void save();
          }}
        >
          <label>
            Allow (skip the rules)
            <textarea rows={4} value={allow} readOnly={!canEdit} onChange={(e) => setAllow(e.target.value)} />
          </label>
          <label>
            Deny (403 on every route)
            <textarea rows={4} value={deny} readOnly={!canEdit} onChange={(e) => setDeny(e.target.value)} />
          </label>
          <p className="muted">
            From the config: allow {lists.data.configured.allow.join(', ') || 'none'}; deny {lists.data.configured.deny.join(', ') || 'none'}.
            {lists.data.updatedBy !== null && ` Last changed by ${lists.data.updatedBy} at ${new Date(lists.data.updatedAt!).toLocaleString()}.`}
          </p>
          {error !== undefined && <ErrorMessage>{error}</ErrorMessage>}
          {saved !== undefined && (
            <p className="state" role="status">
              {saved}
            </p>
          )}
          {canEdit && (
            <button type="submit" className="button primary" disabled={busy}>
              Save the lists
            </button>
          )}
        </form>
      )}
    </section>
  );
}
