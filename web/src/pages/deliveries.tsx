import { useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorNotice, StatusBadge } from '../components/common';
import { formatDuration, formatLocal } from '../format';
import { usePoll } from '../use-poll';

/** The run's result callbacks: one per callback URL, with every attempt. */
export function DeliveriesSection({ runId, final }: { runId: string; final: boolean }) {
  // Deliveries appear when the run ends; poll while one is still being sent.
  const [pending, setPending] = useState(false);
  const deliveries = usePoll(
    async () => {
      const list = await api.deliveries(runId);
      setPending(list.some((delivery) => delivery.status === 'pending'));
      return list;
    },
    [runId, final],
    { intervalMs: 5000, live: final && pending },
  );
  return (
    <section aria-labelledby="deliveries-heading">
      <h2 id="deliveries-heading">Deliveries</h2>
      <ErrorNotice error={deliveries.error} />
      {deliveries.data?.length === 0 && (
        <p>
          {final
            ? 'No callback deliveries: the workflow has no callback URL.'
            : 'Callbacks are sent when the run ends.'}
        </p>
      )}
      {deliveries.data && deliveries.data.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">URL</th>
              <th scope="col">Event</th>
              <th scope="col">Status</th>
              <th scope="col">Attempts</th>
              <th scope="col">Last answer</th>
              <th scope="col">Next attempt</th>
            </tr>
          </thead>
          <tbody>
            {deliveries.data.map((delivery) => (
              <tr key={delivery.id}>
                <td>
                  <code>{delivery.url}</code>
                </td>
                <td>{delivery.event_type}</td>
                <td>
                  <StatusBadge status={delivery.status} />
                </td>
                <td>
                  {delivery.attempts}
                  {delivery.attempt_log.length > 0 && (
                    <ul class="plain small">
                      {delivery.attempt_log.map((attempt) => (
                        <li key={attempt.attempt}>
                          #{attempt.attempt} {attempt.status_code ?? attempt.error ?? '—'} in{' '}
                          {formatDuration(attempt.duration_ms)}
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td>{delivery.last_status_code ?? delivery.last_error ?? '—'}</td>
                <td>{delivery.next_attempt_at ? formatLocal(delivery.next_attempt_at) : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
