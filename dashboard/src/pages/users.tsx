/**
 * Users (admins): list, create, change role, disable, delete through /api/admin/users. The API
 * keeps its own rules (the last platform admin stays; a tenant admin manages their tenant only)
 * and its answers are shown as it words them, next to the field when it names one.
 */
import { useState, type FormEvent } from 'react';
import { useServices, useSession } from '../app-context.js';
import { describeError } from '../api/http.js';
import { ROLES, type Role, type Tenant, type User } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { FormError, SelectField, TextField, fieldErrorsOf, type FieldErrors } from '../components/field.js';
import { Empty, ErrorMessage, Loading, useNow } from '../components/states.js';
import { formatAgo } from '../format.js';

const FIELDS = ['email', 'password', 'role', 'tenant', 'name'] as const;

export function UsersPage() {
  const { session } = useServices();
  const current = useSession();
  const me = current.status === 'authenticated' ? current.user : undefined;
  const users = useApi<{ users: User[] }>('/api/admin/users');
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [rowError, setRowError] = useState<string | undefined>(undefined);
  const now = useNow(30_000);

  const change = async (user: User, patch: { role?: Role; disabled?: boolean }, what: string) => {
    setRowError(undefined);
    try {
      await session.api.request('PATCH', `/api/admin/users/${encodeURIComponent(user.id)}`, patch);
      setNotice(`${what}: ${user.email}.`);
      users.reload();
    } catch (err) {
      setRowError(`Could not change ${user.email}: ${describeError(err)}`);
      users.reload();
    }
  };
  const remove = async (user: User) => {
    setRowError(undefined);
    try {
      await session.api.request('DELETE', `/api/admin/users/${encodeURIComponent(user.id)}`);
      setNotice(`Deleted ${user.email}; their sessions ended.`);
      setDeleting(undefined);
      users.reload();
    } catch (err) {
      setRowError(`Could not delete ${user.email}: ${describeError(err)}`);
    }
  };

  return (
    <>
      <div className="page-head">
        <h1>Users</h1>
        {!creating && (
          <button type="button" className="button primary" onClick={() => setCreating(true)}>
            New user
          </button>
        )}
      </div>
      <div aria-live="polite">{notice !== undefined && <p className="notice">{notice}</p>}</div>
      {creating && (
        <UserForm
          tenantBound={me?.tenant ?? null}
          onDone={(message) => {
            setCreating(false);
            if (message !== undefined) {
              setNotice(message);
              users.reload();
            }
          }}
        />
      )}
      {rowError !== undefined && <ErrorMessage>{rowError}</ErrorMessage>}
      {users.error !== undefined ? (
        <ErrorMessage onRetry={users.reload}>Could not read the users: {describeError(users.error)}</ErrorMessage>
      ) : users.data === undefined ? (
        <Loading what="users" />
      ) : users.data.users.length === 0 ? (
        <Empty>No users yet.</Empty>
      ) : (
        <div className="table-scroll" tabIndex={0} role="region" aria-label="Users">
          <table>
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Tenant</th>
                <th scope="col">Created</th>
                <th scope="col">State</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {users.data.users.map((u) => (
                <tr key={u.id} data-user={u.email}>
                  <th scope="row">
                    {u.email}
                    {u.id === me?.id && <span className="tag">you</span>}
                  </th>
                  <td>{u.name ?? <span className="muted">–</span>}</td>
                  <td>
                    <RoleEditor user={u} onSave={(role) => void change(u, { role }, `Role set to ${role}`)} />
                  </td>
                  <td>{u.tenant ?? <span className="muted">platform</span>}</td>
                  <td>{formatAgo(u.createdAt, now)}</td>
                  <td>
                    <span className={`status status-${u.disabled === true ? 'down' : 'healthy'}`}>{u.disabled === true ? 'disabled' : 'active'}</span>
                  </td>
                  <td>
                    <div className="actions">
                      <button type="button" className="button small" onClick={() => void change(u, { disabled: u.disabled !== true }, u.disabled === true ? 'Enabled' : 'Disabled')} aria-label={`${u.disabled === true ? 'Enable' : 'Disable'} ${u.email}`}>
                        {u.disabled === true ? 'Enable' : 'Disable'}
                      </button>
                      {deleting === u.id ? (
                        <>
                          <button type="button" className="button small danger" onClick={() => void remove(u)}>
                            Confirm delete
                          </button>
                          <button type="button" className="button small" onClick={() => setDeleting(undefined)}>
                            Keep
                          </button>
                        </>
                      ) : (
                        <button type="button" className="button small danger-outline" onClick={() => setDeleting(u.id)} aria-label={`Delete ${u.email}`}>
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

/** A role change is saved with its own button, so arrowing through the options sends nothing. */
function RoleEditor({ user, onSave }: { user: User; onSave: (role: Role) => void }) {
  const [role, setRole] = useState<Role>(user.role);
  return (
    <span className="inline-form">
      <select value={role} aria-label={`Role of ${user.email}`} onChange={(e) => setRole(e.target.value as Role)}>
        {ROLES.map((r) => (
          <option key={r} value={r}>
            {r}
          </option>
        ))}
      </select>
      {role !== user.role && (
        <button type="button" className="button small primary" onClick={() => onSave(role)}>
          Save role
        </button>
      )}
    </span>
  );
}

function UserForm({ tenantBound, onDone }: { tenantBound: string | null; onDone: (message?: string) => void }) {
  const { session } = useServices();
  const tenants = useApi<{ tenants: Tenant[] }>(tenantBound === null ? '/api/tenants' : undefined);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [tenant, setTenant] = useState<string>(tenantBound ?? '');
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    try {
      await session.api.request('POST', '/api/admin/users', { email, password, role, tenant: tenant === '' ? null : tenant, ...(name.trim() !== '' ? { name } : {}) });
      onDone(`Created ${email} (${role}).`);
    } catch (err) {
      setErrors(fieldErrorsOf(err, { VF_ERR_USER_EXISTS: 'email', VF_ERR_PASSWORD_POLICY: 'password' }));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="panel card-form" onSubmit={(e) => void submit(e)} aria-labelledby="user-form-heading" noValidate>
      <h2 id="user-form-heading">New user</h2>
      <div className="form-grid">
        <TextField label="Email" type="email" autoComplete="off" value={email} onChange={(e) => setEmail(e.target.value)} required error={errors.email} autoFocus />
        <TextField label="Password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} required error={errors.password} />
        <TextField label="Name" value={name} onChange={(e) => setName(e.target.value)} error={errors.name} />
        <SelectField label="Role" value={role} onChange={(e) => setRole(e.target.value as Role)} error={errors.role}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </SelectField>
        <SelectField label="Tenant" value={tenant} onChange={(e) => setTenant(e.target.value)} error={errors.tenant} disabled={tenantBound !== null}>
          {tenantBound !== null ? (
            <option value={tenantBound}>{tenantBound}</option>
          ) : (
            <>
              <option value="">none (platform user)</option>
              {(tenants.data?.tenants ?? []).map((t) => (
                <option key={t.id} value={t.id}>
                  {t.id} — {t.name}
                </option>
              ))}
            </>
          )}
        </SelectField>
      </div>
      <FormError errors={errors} known={FIELDS} />
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create user'}
        </button>
        <button type="button" className="button" onClick={() => onDone()}>
          Cancel
        </button>
      </div>
    </form>
  );
}
