/**
 * Backends: one table per pool in the spirit of HAProxy's stats page, live from /api/ws/backends
 * (state) and /api/ws/metrics (traffic). Operators and admins can drain, undrain, reweight, add
 * and remove backends through /api/backends (validated, applied on every worker, persisted);
 * viewers get the same tables without a single control. The API enforces the roles either way.
 */
import { useState, type FormEvent } from 'react';
import { useServices, useSession } from '../app-context.js';
import { describeError } from '../api/http.js';
import type { ApiBackend, ApiPoolStatus, MetricsStreamData, TrafficSummary } from '../api/types.js';
import { permissionsOf } from '../auth/session.js';
import { FormError, TextField, fieldErrorsOf, type FieldErrors } from '../components/field.js';
import { Empty, ErrorMessage, Loading, StreamBadge, useNow } from '../components/states.js';
import { formatAgo, formatCount, formatMs, formatRate } from '../format.js';
import { useRealtimeBackends, useStream, useRealtimeStatus } from '../streams/hooks.js';
import type { StreamSnapshot } from '../streams/stream-socket.js';

type Backend = ApiBackend;

type BackendStatus = 'down' | 'ejected' | 'draining' | 'disabled' | 'healthy';
const STATUS_TEXT: Record<BackendStatus, string> = { down: 'down', ejected: 'ejected', draining: 'draining', disabled: 'weight 0', healthy: 'healthy' };

/** The one word an operator looks for first; a drained backend that also fails its check reads "down". */
export function statusOf(b: Backend): BackendStatus {
  if (b.healthy === false) return 'down';
  if (b.ejected) return 'ejected';
  if (b.drain) return 'draining';
  if (b.weight === 0) return 'disabled';
  return 'healthy';
}

/** Requests per second of each backend, from the cumulative counters of the last two metrics messages. */
function ratesOf(metrics: StreamSnapshot<MetricsStreamData>): ReadonlyMap<string, number> {
  const rates = new Map<string, number>();
  const { data, ts, previous } = metrics;
  if (data === undefined || ts === undefined || previous === undefined || ts <= previous.ts) return rates;
  const seconds = (ts - previous.ts) / 1000;
  for (const [id, traffic] of Object.entries(data.backends)) {
    const before = previous.data.backends[id]?.requests;
    if (before !== undefined && traffic.requests >= before) rates.set(id, (traffic.requests - before) / seconds);
  }
  return rates;
}

export function BackendsPage() {
  const session = useSession();
  const user = session.status === 'authenticated' ? session.user : undefined;
  const { operate } = permissionsOf(user);
  const backends = useRealtimeBackends();
  const metrics = useStream<MetricsStreamData>('metrics');
  const status = useRealtimeStatus();
  const rates = ratesOf(metrics);
  const [notice, setNotice] = useState<string | undefined>(undefined);

  const list = (backends.data?.backends ?? []) as Backend[];
  const poolNames = [...new Set([...(status.data?.pools ?? []).map((p) => p.name), ...list.map((b) => b.pool)])];
  const poolInfo = new Map((status.data?.pools ?? []).map((p) => [p.name, p]));

  return (
    <>
      <div className="page-head">
        <h1>Backends</h1>
        <StreamBadge snapshot={backends} label="Backend states" />
      </div>
      <p className="muted">
        Live state from health checks and outlier detection; traffic from the metrics stream. {operate ? 'Changes apply to every worker and are saved.' : 'You can read these; changing them needs the operator role.'}
      </p>
      <div aria-live="polite">{notice !== undefined && <p className="notice">{notice}</p>}</div>
      {backends.data === undefined ? (
        backends.phase === 'connecting' ? <Loading what="backends" /> : <ErrorMessage>No backend data: the stream is {backends.phase}.</ErrorMessage>
      ) : backends.data.backends === undefined ? (
        <ErrorMessage>The server sent counts only: your session is not recognised on the stream. Reload the page to log in again.</ErrorMessage>
      ) : poolNames.length === 0 ? (
        <Empty>No pools are configured.</Empty>
      ) : (
        poolNames.map((pool) => (
          <PoolTable key={pool} pool={pool} info={poolInfo.get(pool)} backends={list.filter((b) => b.pool === pool)} traffic={metrics.data?.backends ?? {}} rates={rates} operate={operate} onNotice={setNotice} />
        ))
      )}
    </>
  );
}

interface PoolTableProps {
  pool: string;
  info: ApiPoolStatus | undefined;
  backends: Backend[];
  traffic: Record<string, TrafficSummary>;
  rates: ReadonlyMap<string, number>;
  operate: boolean;
  onNotice: (text: string) => void;
}

function PoolTable({ pool, info, backends, traffic, rates, operate, onNotice }: PoolTableProps) {
  const now = useNow();
  const headingId = `pool-${pool}`;
  const available = backends.filter((b) => b.available).length;
  return (
    <section className="panel pool" aria-labelledby={headingId}>
      <div className="panel-head">
        <h2 id={headingId}>
          Pool <code>{pool}</code>
        </h2>
        <span className="muted">
          {info?.algorithm ?? ''} · {available} of {backends.length} taking traffic
        </span>
      </div>
      {backends.length === 0 ? (
        <Empty>This pool has no backends.</Empty>
      ) : (
        <div className="table-scroll" tabIndex={0} role="region" aria-label={`Backends of pool ${pool}`}>
          <table className="backends">
            <thead>
              <tr>
                <th scope="col">Backend</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">
                  Weight
                </th>
                <th scope="col" className="num">
                  In flight
                </th>
                <th scope="col" className="num">
                  Req/s
                </th>
                <th scope="col" className="num">
                  p99 <span className="visually-hidden">latency </span>since start
                </th>
                <th scope="col" className="num">
                  5xx / 4xx since start
                </th>
                <th scope="col">Last check</th>
                <th scope="col" className="num">
                  Ejections
                </th>
                {operate && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {backends.map((b) => (
                <BackendRow key={b.id} backend={b} traffic={traffic[b.id]} rate={rates.get(b.id)} operate={operate} now={now} onNotice={onNotice} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {operate && <AddBackendForm pool={pool} onNotice={onNotice} />}
    </section>
  );
}

function BackendRow({ backend: b, traffic, rate, operate, now, onNotice }: { backend: Backend; traffic: TrafficSummary | undefined; rate: number | undefined; operate: boolean; now: number; onNotice: (text: string) => void }) {
  const status = statusOf(b);
  return (
    <tr data-backend={b.id} data-status={status}>
      <th scope="row">
        <span className="backend-id">{b.id}</span>
        <span className="muted small backend-url">{b.url}</span>
      </th>
      <td>
        <span className={`status status-${status}`}>{STATUS_TEXT[status]}</span>
        {status !== 'draining' && b.drain && <span className="tag">drained</span>}
        {b.healthy === null && <span className="muted small"> no check</span>}
      </td>
      <td className="num">{b.weight}</td>
      <td className="num">{formatCount(b.inFlight)}</td>
      <td className="num">{formatRate(rate)}</td>
      <td className="num">{formatMs(traffic?.p99Ms)}</td>
      <td className="num">{traffic === undefined ? '–' : `${formatCount(traffic.errors5xx)} / ${formatCount(traffic.errors4xx)}`}</td>
      <td>
        {b.lastCheck == null ? (
          <span className="muted">{b.healthy === null ? '–' : 'none yet'}</span>
        ) : (
          <>
            <span className={b.lastCheck.ok ? 'ok-text' : 'bad-text'}>{b.lastCheck.ok ? 'passed' : 'failed'}</span>{' '}
            <span className="muted small">
              {[b.lastCheck.status, formatMs(b.lastCheck.durationMs), formatAgo(b.lastCheck.at, now)].filter((part) => part !== undefined).join(' · ')}
            </span>
            {b.lastCheck.error !== undefined && <span className="small bad-text check-error">{b.lastCheck.error}</span>}
          </>
        )}
      </td>
      <td className="num">{formatCount(b.ejections)}</td>
      {operate && (
        <td>
          <BackendActions backend={b} onNotice={onNotice} />
        </td>
      )}
    </tr>
  );
}

function BackendActions({ backend: b, onNotice }: { backend: Backend; onNotice: (text: string) => void }) {
  const { session } = useServices();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const [weight, setWeight] = useState<string>(String(b.weight));
  const [editing, setEditing] = useState(false);
  const [confirmRemove, setConfirmRemove] = useState(false);

  const run = async (what: string, call: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await call();
      onNotice(`${what}: done. The table follows within a second.`);
      return true;
    } catch (err) {
      setError(describeError(err));
      return false;
    } finally {
      setBusy(false);
    }
  };
  const path = `/api/backends/${encodeURIComponent(b.id)}`;
  const saveWeight = async (event: FormEvent) => {
    event.preventDefault();
    if (await run(`Weight of ${b.id} set to ${weight}`, () => session.api.request('PUT', path, { weight: Number(weight) }))) setEditing(false);
  };

  return (
    <div className="actions">
      <button type="button" className="button small" disabled={busy} onClick={() => void run(`${b.drain ? 'Undrained' : 'Drained'} ${b.id}`, () => session.api.request('PUT', path, { drain: !b.drain }))} aria-label={`${b.drain ? 'Undrain' : 'Drain'} ${b.id}`}>
        {b.drain ? 'Undrain' : 'Drain'}
      </button>
      {editing ? (
        <form className="inline-form" onSubmit={(e) => void saveWeight(e)}>
          <input type="number" min={0} max={1000} step={1} required value={weight} onChange={(e) => setWeight(e.target.value)} aria-label={`New weight of ${b.id}`} className="weight-input" autoFocus />
          <button type="submit" className="button small primary" disabled={busy}>
            Save
          </button>
          <button type="button" className="button small" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </form>
      ) : (
        <button type="button" className="button small" disabled={busy} onClick={() => (setWeight(String(b.weight)), setEditing(true))} aria-label={`Change weight of ${b.id}`}>
          Weight…
        </button>
      )}
      {confirmRemove ? (
        <>
          <button type="button" className="button small danger" disabled={busy} onClick={() => void run(`Removed ${b.id}`, () => session.api.request('DELETE', path)).then(() => setConfirmRemove(false))}>
            Confirm remove {b.id}
          </button>
          <button type="button" className="button small" onClick={() => setConfirmRemove(false)}>
            Keep
          </button>
        </>
      ) : (
        <button type="button" className="button small danger-outline" disabled={busy} onClick={() => setConfirmRemove(true)} aria-label={`Remove ${b.id}`}>
          Remove
        </button>
      )}
      {error !== undefined && (
        <span className="field-error" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

function AddBackendForm({ pool, onNotice }: { pool: string; onNotice: (text: string) => void }) {
  const { session } = useServices();
  const [open, setOpen] = useState(false);
  const [id, setId] = useState('');
  const [url, setUrl] = useState('');
  const [weight, setWeight] = useState('1');
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);

  if (!open) {
    return (
      <button type="button" className="button small" onClick={() => setOpen(true)}>
        Add a backend to {pool}
      </button>
    );
  }
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    try {
      await session.api.request('POST', '/api/backends', { id, pool, url, weight: Number(weight) });
      onNotice(`Added ${id} to ${pool}.`);
      setOpen(false);
      setId('');
      setUrl('');
      setWeight('1');
    } catch (err) {
      setErrors(fieldErrorsOf(err, { VF_ERR_BACKEND_EXISTS: 'id', VF_ERR_BACKEND_ADDRESS_DENIED: 'url' }));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card-form" onSubmit={(e) => void submit(e)} aria-label={`Add a backend to ${pool}`}>
      <div className="form-row">
        <TextField label="Id" value={id} onChange={(e) => setId(e.target.value)} required error={errors.id} placeholder="web-3" />
        <TextField label="URL" value={url} onChange={(e) => setUrl(e.target.value)} required error={errors.url} placeholder="http://10.0.0.3:8080" />
        <TextField label="Weight" type="number" min={0} max={1000} value={weight} onChange={(e) => setWeight(e.target.value)} error={errors.weight} />
      </div>
      <FormError errors={errors} known={['id', 'url', 'weight']} />
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Adding…' : 'Add backend'}
        </button>
        <button type="button" className="button" onClick={() => setOpen(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}
