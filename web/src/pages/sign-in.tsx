import { useState } from 'preact/hooks';
import { api, ApiError, session } from '../api';

export function SignInPage({ notice, onSignedIn }: { notice: string | null; onSignedIn: () => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const trimmed = key.trim();
    if (!trimmed) {
      setError('Enter an API key: the key is invalid when empty.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await api.checkKey(trimmed);
      session.signIn(trimmed);
      onSignedIn();
    } catch (caught) {
      if (caught instanceof ApiError && caught.status === 401) {
        setError('That API key is invalid or revoked.');
      } else if (caught instanceof ApiError && caught.status === 403) {
        setError(`That key is valid but cannot read workflows: ${caught.message}`);
      } else {
        setError(`Could not reach the server: ${caught instanceof Error ? caught.message : String(caught)}`);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="card signin-card">
      <h1>Sign in to Stepwise</h1>
      <p class="muted">
        Use an API key (the first start prints an operator key and keeps it in <code>data/admin-key.txt</code>
        ). It stays in this browser tab's session only.
      </p>
      {notice && <p role="status">{notice}</p>}
      <form onSubmit={submit}>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          spellcheck={false}
          value={key}
          onInput={(event) => setKey(event.currentTarget.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'api-key-error' : undefined}
          required
        />
        {error && (
          <p role="alert" id="api-key-error" class="error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
