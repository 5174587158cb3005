import { useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorNotice, Loading, StatusBadge } from '../components/common';
import { formatLocal } from '../format';
import { usePoll } from '../use-poll';

/** Assistant instances (document 001) of the key's site, newest first. */
export function InstancesPage() {
  const instances = usePoll(
    () => api.instances().then((r) => r.instances ?? (r.instance ? [r.instance] : [])),
    [],
    {
      intervalMs: 15_000,
    },
  );
  const [activity, setActivity] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [status, setStatus] = useState('');

  const create = async (event: Event) => {
    event.preventDefault();
    setError(null);
    try {
      const created = await api.createInstance(activity.trim(), name.trim() || undefined);
      setStatus(`Created instance “${created.instance.name}”.`);
      setActivity('');
      setName('');
      await instances.reload();
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <>
      <h1>Instances</h1>
      <p class="muted">
        AI assistant sessions of this key's site: their activity, name (renamed smartly as context changes)
        and status.
      </p>
      <ErrorNotice error={instances.error} />
      {instances.data === undefined ? (
        instances.loading && <Loading what="instances" />
      ) : instances.data.length === 0 ? (
        <p>No instances yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Activity</th>
              <th scope="col">Status</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {instances.data.map((instance) => (
              <tr key={instance.id}>
                <td>
                  {instance.name}
                  <div class="muted small">{instance.id}</div>
                </td>
                <td>{instance.activity}</td>
                <td>
                  <StatusBadge status={instance.status} />
                </td>
                <td>{formatLocal(instance.updated_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form class="card form" onSubmit={create} aria-labelledby="new-instance-heading">
        <h2 id="new-instance-heading">New instance</h2>
        <label for="instance-activity">Activity</label>
        <input
          id="instance-activity"
          value={activity}
          required
          maxLength={2000}
          onInput={(e) => setActivity(e.currentTarget.value)}
        />
        <label for="instance-name">Name (optional)</label>
        <input
          id="instance-name"
          value={name}
          maxLength={200}
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <ErrorNotice error={error} />
        <p role="status" class="muted">
          {status}
        </p>
        <button type="submit">Create instance</button>
      </form>
    </>
  );
}
