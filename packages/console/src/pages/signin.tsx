import { type FormEvent, useState } from 'react';
import { type ApiClient, type ConsoleSession, explain } from '../api.ts';

export function SignIn({
  client,
  message,
  onSignedIn,
}: {
  client: ApiClient;
  message?: string | undefined;
  onSignedIn(s: ConsoleSession): void;
}) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [tenant, setTenant] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await client.signIn(username.trim(), password, tenant.trim() || undefined));
    } catch (err) {
      setError(explain(err));
      setPassword('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="signin">
      <form className="card" onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Sign in to Vigil</h1>
        {message && !error && (
          <p className="info" role="status">
            {message}
          </p>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="field">
          <label htmlFor="signin-user">User name</label>
          <input
            id="signin-user"
            autoComplete="username"
            required
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="signin-password">Password</label>
          <input
            id="signin-password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="signin-tenant">Tenant</label>
          <input
            id="signin-tenant"
            placeholder="default"
            aria-describedby="signin-tenant-hint"
            value={tenant}
            onChange={(e) => setTenant(e.target.value)}
          />
          <small id="signin-tenant-hint" className="muted">
            Leave empty for the default tenant.
          </small>
        </div>
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
