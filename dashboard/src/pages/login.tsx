/** The login form. On success the app opens the page the user asked for (or the overview). */
import { useState, type FormEvent } from 'react';
import { useServices, useSession } from '../app-context.js';
import { ApiError, describeError } from '../api/http.js';
import { TextField } from '../components/field.js';

export function LoginPage() {
  const { session } = useServices();
  const state = useSession();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await session.login(email, password);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'VF_ERR_AUTH_INVALID') setError('Wrong email or password.');
      else if (err instanceof ApiError && err.status === 429) setError(`Too many attempts: ${err.message}`);
      else setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login" id="main">
      <form className="panel login-form" onSubmit={(e) => void submit(e)} aria-labelledby="login-heading">
        <h1 id="login-heading">
          <span className="brand-mark" aria-hidden="true">
            ◆
          </span>{' '}
          VeloFlux
        </h1>
        <p className="muted">Log in to the dashboard.</p>
        {state.status === 'anonymous' && state.notice !== undefined && <p className="notice">{state.notice}</p>}
        <TextField label="Email" type="email" name="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} required autoFocus />
        <TextField label="Password" type="password" name="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        {error !== undefined && (
          <p className="field-error form-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="button primary wide" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
        <p className="muted small">The first admin's password is printed once by VeloFlux on its first start.</p>
      </form>
    </main>
  );
}
