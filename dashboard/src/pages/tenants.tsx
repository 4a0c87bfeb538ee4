/**
 * Tenants (admins): list, create, edit, delete through /api/tenants. The API's validation problems
 * appear next to the field they name; an admin bound to a tenant sees only their own tenant and
 * the API refuses them changes (shown as the API words it).
 */
import { useState, type FormEvent } from 'react';
import { useServices } from '../app-context.js';
import { describeError } from '../api/http.js';
import type { Tenant } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { FormError, SelectField, TextField, fieldErrorsOf, type FieldErrors } from '../components/field.js';
import { Empty, ErrorMessage, Loading } from '../components/states.js';
import { formatCount } from '../format.js';

const FIELDS = ['id', 'name', 'plan', 'limits.requestsPerSecond', 'limits.monthlyRequests', 'contact.name', 'contact.email', 'status'] as const;

interface Draft {
  id: string;
  name: string;
  plan: string;
  rps: string;
  monthly: string;
  contactName: string;
  contactEmail: string;
  status: 'active' | 'suspended';
}

const EMPTY: Draft = { id: '', name: '', plan: 'free', rps: '', monthly: '', contactName: '', contactEmail: '', status: 'active' };

function draftOf(t: Tenant): Draft {
  return {
    id: t.id,
    name: t.name,
    plan: t.plan,
    rps: t.limits.requestsPerSecond?.toString() ?? '',
    monthly: t.limits.monthlyRequests?.toString() ?? '',
    contactName: t.contact.name ?? '',
    contactEmail: t.contact.email ?? '',
    status: t.status,
  };
}

/** What the API takes: numbers as numbers, empty optional fields left out. */
function bodyOf(d: Draft, withId: boolean) {
  const limits: Record<string, number> = {};
  if (d.rps.trim() !== '') limits.requestsPerSecond = Number(d.rps);
  if (d.monthly.trim() !== '') limits.monthlyRequests = Number(d.monthly);
  const contact: Record<string, string> = {};
  if (d.contactName.trim() !== '') contact.name = d.contactName.trim();
  if (d.contactEmail.trim() !== '') contact.email = d.contactEmail.trim();
  return { ...(withId ? { id: d.id.trim() } : {}), name: d.name, plan: d.plan.trim(), limits, contact, status: d.status };
}

export function TenantsPage() {
  const { session } = useServices();
  const tenants = useApi<{ tenants: Tenant[] }>('/api/tenants');
  const [editing, setEditing] = useState<Tenant | 'new' | undefined>(undefined);
  const [deleting, setDeleting] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [rowError, setRowError] = useState<string | undefined>(undefined);

  const remove = async (id: string) => {
    setRowError(undefined);
    try {
      await session.api.request('DELETE', `/api/tenants/${encodeURIComponent(id)}`);
      setNotice(`Deleted tenant ${id} and its users.`);
      setDeleting(undefined);
      tenants.reload();
    } catch (err) {
      setRowError(`Could not delete ${id}: ${describeError(err)}`);
    }
  };

  return (
    <>
      <div className="page-head">
        <h1>Tenants</h1>
        {editing === undefined && (
          <button type="button" className="button primary" onClick={() => setEditing('new')}>
            New tenant
          </button>
        )}
      </div>
      <div aria-live="polite">{notice !== undefined && <p className="notice">{notice}</p>}</div>
      {editing !== undefined && (
        <TenantForm
          tenant={editing === 'new' ? undefined : editing}
          onDone={(message) => {
            setEditing(undefined);
            if (message !== undefined) {
              setNotice(message);
              tenants.reload();
            }
          }}
        />
      )}
      {rowError !== undefined && <ErrorMessage>{rowError}</ErrorMessage>}
      {tenants.error !== undefined ? (
        <ErrorMessage onRetry={tenants.reload}>Could not read the tenants: {describeError(tenants.error)}</ErrorMessage>
      ) : tenants.data === undefined ? (
        <Loading what="tenants" />
      ) : tenants.data.tenants.length === 0 ? (
        <Empty>No tenants yet. A tenant owns routes, pools and users, with its own plan and limits.</Empty>
      ) : (
        <div className="table-scroll" tabIndex={0} role="region" aria-label="Tenants">
          <table>
            <thead>
              <tr>
                <th scope="col">Id</th>
                <th scope="col">Name</th>
                <th scope="col">Plan</th>
                <th scope="col" className="num">
                  Req/s limit
                </th>
                <th scope="col" className="num">
                  Monthly requests
                </th>
                <th scope="col">Contact</th>
                <th scope="col">Status</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {tenants.data.tenants.map((t) => (
                <tr key={t.id} data-tenant={t.id}>
                  <th scope="row">
                    <code>{t.id}</code>
                  </th>
                  <td>{t.name}</td>
                  <td>{t.plan}</td>
                  <td className="num">{formatCount(t.limits.requestsPerSecond)}</td>
                  <td className="num">{formatCount(t.limits.monthlyRequests)}</td>
                  <td>{[t.contact.name, t.contact.email].filter(Boolean).join(', ') || <span className="muted">–</span>}</td>
                  <td>
                    <span className={`status status-${t.status === 'active' ? 'healthy' : 'draining'}`}>{t.status}</span>
                  </td>
                  <td>
                    <div className="actions">
                      <button type="button" className="button small" onClick={() => setEditing(t)} aria-label={`Edit tenant ${t.id}`}>
                        Edit
                      </button>
                      {deleting === t.id ? (
                        <>
                          <button type="button" className="button small danger" onClick={() => void remove(t.id)}>
                            Confirm delete {t.id}
                          </button>
                          <button type="button" className="button small" onClick={() => setDeleting(undefined)}>
                            Keep
                          </button>
                        </>
                      ) : (
                        <button type="button" className="button small danger-outline" onClick={() => setDeleting(t.id)} aria-label={`Delete tenant ${t.id}`}>
                          Delete
                        </button>
                      )}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function TenantForm({ tenant, onDone }: { tenant: Tenant | undefined; onDone: (message?: string) => void }) {
  const { session } = useServices();
  const [draft, setDraft] = useState<Draft>(tenant === undefined ? EMPTY : draftOf(tenant));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const set = (key: keyof Draft) => (e: { target: { value: string } }) => setDraft({ ...draft, [key]: e.target.value });
  const creating = tenant === undefined;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    try {
      if (creating) await session.api.request('POST', '/api/tenants', bodyOf(draft, true));
      else await session.api.request('PUT', `/api/tenants/${encodeURIComponent(tenant.id)}`, bodyOf(draft, false));
      onDone(creating ? `Created tenant ${draft.id}.` : `Saved tenant ${tenant.id}.`);
    } catch (err) {
      setErrors(fieldErrorsOf(err, { VF_ERR_TENANT_EXISTS: 'id' }));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="panel card-form" onSubmit={(e) => void submit(e)} aria-labelledby="tenant-form-heading" noValidate>
      <h2 id="tenant-form-heading">{creating ? 'New tenant' : `Edit tenant ${tenant.id}`}</h2>
      <div className="form-grid">
        {creating && <TextField label="Id" value={draft.id} onChange={set('id')} required error={errors.id} hint="Letters, digits, . _ -; cannot change later" autoFocus />}
        <TextField label="Name" value={draft.name} onChange={set('name')} required error={errors.name} autoFocus={!creating} />
        <TextField label="Plan" value={draft.plan} onChange={set('plan')} error={errors.plan} />
        <TextField label="Requests/s limit" type="number" min={1} value={draft.rps} onChange={set('rps')} error={errors['limits.requestsPerSecond']} hint="Empty: the plan's" />
        <TextField label="Monthly requests" type="number" min={1} value={draft.monthly} onChange={set('monthly')} error={errors['limits.monthlyRequests']} hint="Empty: the plan's" />
        <TextField label="Contact name" value={draft.contactName} onChange={set('contactName')} error={errors['contact.name']} />
        <TextField label="Contact email" type="email" value={draft.contactEmail} onChange={set('contactEmail')} error={errors['contact.email']} />
        <SelectField label="Status" value={draft.status} onChange={set('status')} error={errors.status}>
          <option value="active">active</option>
          <option value="suspended">suspended</option>
        </SelectField>
      </div>
      <FormError errors={errors} known={FIELDS} />
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Saving…' : creating ? 'Create tenant' : 'Save'}
        </button>
        <button type="button" className="button" onClick={() => onDone()}>
          Cancel
        </button>
      </div>
    </form>
  );
}
