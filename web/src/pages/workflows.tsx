import { useState } from 'preact/hooks';
import { api, type TriggerConfig } from '../api';
import { ErrorNotice, Loading, StatusBadge } from '../components/common';
import { formatLocal } from '../format';
import { Link } from '../router';
import { usePoll } from '../use-poll';
import { WorkflowForm } from './workflow-form';

/** `manual`, `scheduled · 0 9 * * 1-5 (Europe/Paris)`, `event · order.paid`. */
export function triggerText(trigger: TriggerConfig | null | undefined): string {
  if (!trigger || !trigger.type) return 'manual';
  const off = trigger.enabled === false ? ' (disabled)' : '';
  if (trigger.type === 'scheduled')
    return `scheduled · ${trigger.schedule ?? '?'} (${trigger.timezone ?? 'UTC'})${off}`;
  if (trigger.type === 'event') return `event · ${trigger.event_type ?? '?'}${off}`;
  return `${trigger.type}${off}`;
}

export function WorkflowsPage() {
  const [creating, setCreating] = useState(false);
  const workflows = usePoll(() => api.listWorkflows(), [], { intervalMs: 10_000 });

  return (
    <>
      <div class="page-head">
        <h1>Workflows</h1>
        <button
          type="button"
          aria-expanded={creating}
          aria-controls="new-workflow"
          onClick={() => setCreating(!creating)}
        >
          New workflow
        </button>
      </div>
      {creating && <WorkflowForm id="new-workflow" onCancel={() => setCreating(false)} />}
      <ErrorNotice error={workflows.error} />
      {workflows.data === undefined ? (
        workflows.loading && <Loading what="workflows" />
      ) : (
        <table>
          <caption class="visually-hidden">Workflows of this organisation</caption>
          <thead>
            <tr>
              <th scope="col">Title</th>
              <th scope="col">Status</th>
              <th scope="col">Trigger</th>
              <th scope="col">Steps</th>
              <th scope="col">Version</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {workflows.data.length === 0 && (
              <tr>
                <td colSpan={6}>
                  No workflows yet. Create one with “New workflow”, or install one from the marketplace.
                </td>
              </tr>
            )}
            {workflows.data.map((workflow) => (
              <tr key={workflow.id}>
                <td>
                  <Link href={`/workflows/${encodeURIComponent(workflow.id)}`}>{workflow.title}</Link>
                  <div class="muted small">{workflow.slug}</div>
                </td>
                <td>
                  <StatusBadge status={workflow.status} />
                </td>
                <td>{triggerText(workflow.triggerConfig)}</td>
                <td>{workflow.steps.length}</td>
                <td>{workflow.version}</td>
                <td>{formatLocal(workflow.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
