import { useState } from 'preact/hooks';
import { api, type Workflow } from '../api';
import { ErrorNotice, Json, Loading, StatusBadge } from '../components/common';
import { formatLocal } from '../format';
import { Link } from '../router';
import { usePoll } from '../use-poll';
import { RunNow } from './run-now';
import { SchedulesSection } from './schedules';
import { triggerText } from './workflows';

export function WorkflowDetailPage({ id }: { id: string }) {
  const workflow = usePoll(() => api.getWorkflow(id), [id], { intervalMs: 15_000 });
  const [status, setStatus] = useState('');
  const [actionError, setActionError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  if (workflow.data === undefined) {
    return (
      <>
        <h1>Workflow</h1>
        <ErrorNotice error={workflow.error} />
        {workflow.loading && <Loading what="the workflow" />}
      </>
    );
  }
  const wf: Workflow = workflow.data;
  const active = wf.status === 'active';

  const toggle = async () => {
    setBusy(true);
    setActionError(null);
    try {
      if (active) await api.deactivate(wf.id);
      else await api.activate(wf.id);
      await workflow.reload();
      setStatus(active ? 'Workflow deactivated.' : 'Workflow activated.');
    } catch (caught) {
      setActionError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <p class="crumbs">
        <Link href="/workflows">Workflows</Link> /
      </p>
      <div class="page-head">
        <h1>{wf.title}</h1>
        <button type="button" onClick={toggle} disabled={busy} class={active ? 'secondary' : ''}>
          {active ? 'Deactivate' : 'Activate'}
        </button>
      </div>
      <p>
        Status: <StatusBadge status={wf.status} /> · version {wf.version} · slug <code>{wf.slug}</code> ·
        credit cost {wf.creditCost}
      </p>
      {wf.description && <p>{wf.description}</p>}
      <p role="status" class="muted">
        {status}
      </p>
      <ErrorNotice error={actionError ?? workflow.error} />

      <RunNow workflow={wf} />

      <section aria-labelledby="steps-heading">
        <h2 id="steps-heading">Steps</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Step id</th>
              <th scope="col">Tool</th>
              <th scope="col">Params</th>
            </tr>
          </thead>
          <tbody>
            {wf.steps.map((step, index) => (
              <tr key={step.id}>
                <td>{index + 1}</td>
                <td>
                  <code>{step.id}</code>
                </td>
                <td>{step.tool}</td>
                <td>
                  <Json value={step.params ?? {}} label={`Params of ${step.id}`} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      <section aria-labelledby="trigger-heading">
        <h2 id="trigger-heading">Trigger</h2>
        <p>{triggerText(wf.triggerConfig)}</p>
        <Json value={wf.triggerConfig ?? { type: 'manual' }} label="Trigger config" />
      </section>

      <SchedulesSection key={`${wf.id}:${wf.status}:${wf.version}`} workflowId={wf.id} />
      <RecentRuns workflowId={wf.id} />
      <p class="muted small">
        Created {formatLocal(wf.createdAt)} · updated {formatLocal(wf.updatedAt)}
      </p>
    </>
  );
}

function RecentRuns({ workflowId }: { workflowId: string }) {
  const runs = usePoll(() => api.listRuns({ workflow_id: workflowId, limit: 10 }), [workflowId], {
    intervalMs: 3000,
  });
  return (
    <section aria-labelledby="recent-heading">
      <h2 id="recent-heading">Recent runs</h2>
      <ErrorNotice error={runs.error} />
      {runs.data && runs.data.length === 0 && <p>No runs yet.</p>}
      {runs.data && runs.data.length > 0 && (
        <ul class="plain">
          {runs.data.map((run) => (
            <li key={run.jobId}>
              <Link href={`/runs/${encodeURIComponent(run.jobId)}`}>{run.jobId}</Link>{' '}
              <StatusBadge status={run.status} />{' '}
              <span class="muted small">{formatLocal(run.createdAt)}</span>
            </li>
          ))}
        </ul>
      )}
      <p>
        <Link href={`/runs?workflow=${encodeURIComponent(workflowId)}`}>All runs of this workflow</Link>
      </p>
    </section>
  );
}
