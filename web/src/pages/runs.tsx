import { api, RUN_STATUSES } from '../api';
import { ErrorNotice, Loading, StatusBadge } from '../components/common';
import { formatDuration, formatLocal, localInputToIso, statusLabel } from '../format';
import { Link, navigate, useLocation } from '../router';
import { usePoll } from '../use-poll';

const PAGE = 50;

/** Filters live in the URL (`/runs?status=failed&workflow=wf_…`), so a filtered view can be linked. */
export function RunsPage() {
  const { query } = useLocation();
  const status = query.get('status') ?? '';
  const workflow = query.get('workflow') ?? '';
  const from = query.get('from') ?? '';
  const to = query.get('to') ?? '';
  const offset = Math.max(0, Number(query.get('offset') ?? 0) || 0);

  const setFilter = (name: string, value: string) => {
    const next = new URLSearchParams(location.search);
    if (value) next.set(name, value);
    else next.delete(name);
    if (name !== 'offset') next.delete('offset');
    const text = next.toString();
    navigate(text ? `/runs?${text}` : '/runs', { replace: true });
  };

  const workflows = usePoll(() => api.listWorkflows(), [], { live: false });
  const titles = new Map((workflows.data ?? []).map((w) => [w.id, w.title]));
  const runs = usePoll(
    () =>
      api.listRuns({
        status: status || undefined,
        workflow_id: workflow || undefined,
        created_after: localInputToIso(from),
        created_before: localInputToIso(to),
        limit: PAGE,
        offset,
      }),
    [status, workflow, from, to, offset],
    { intervalMs: 2000 },
  );

  return (
    <>
      <h1>Runs</h1>
      <form class="filters" aria-label="Run filters" onSubmit={(e) => e.preventDefault()}>
        <div>
          <label for="filter-status">Status</label>
          <select
            id="filter-status"
            value={status}
            onChange={(e) => setFilter('status', e.currentTarget.value)}
          >
            <option value="">any</option>
            {RUN_STATUSES.map((s) => (
              <option key={s} value={s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="filter-workflow">Workflow</label>
          <select
            id="filter-workflow"
            value={workflow}
            onChange={(e) => setFilter('workflow', e.currentTarget.value)}
          >
            <option value="">all workflows</option>
            {(workflows.data ?? []).map((w) => (
              <option key={w.id} value={w.id}>
                {w.title}
              </option>
            ))}
            {workflow && !titles.has(workflow) && <option value={workflow}>{workflow}</option>}
          </select>
        </div>
        <div>
          <label for="filter-from">From</label>
          <input
            id="filter-from"
            type="datetime-local"
            value={from}
            onChange={(e) => setFilter('from', e.currentTarget.value)}
          />
        </div>
        <div>
          <label for="filter-to">To</label>
          <input
            id="filter-to"
            type="datetime-local"
            value={to}
            onChange={(e) => setFilter('to', e.currentTarget.value)}
          />
        </div>
        {(status || workflow || from || to) && (
          <button type="button" class="secondary" onClick={() => navigate('/runs', { replace: true })}>
            Clear filters
          </button>
        )}
      </form>
      <p class="muted small" aria-live="off">
        Updates live every 2 s. Times in your zone.
      </p>
      <ErrorNotice error={runs.error} />
      {runs.data === undefined ? (
        runs.loading && <Loading what="runs" />
      ) : (
        <table>
          <caption class="visually-hidden">Runs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Workflow</th>
              <th scope="col">Status</th>
              <th scope="col">Progress</th>
              <th scope="col">Trigger</th>
              <th scope="col">Created</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {runs.data.length === 0 && (
              <tr>
                <td colSpan={7}>No runs match.</td>
              </tr>
            )}
            {runs.data.map((run) => (
              <tr key={run.jobId}>
                <td>
                  <Link href={`/runs/${encodeURIComponent(run.jobId)}`}>{run.jobId}</Link>
                </td>
                <td>
                  <Link href={`/workflows/${encodeURIComponent(run.workflowId)}`}>
                    {titles.get(run.workflowId) ?? run.workflowId}
                  </Link>
                </td>
                <td>
                  <StatusBadge status={run.status} />
                </td>
                <td>
                  <progress max={1} value={run.progress} aria-label={`Progress of ${run.jobId}`} />{' '}
                  {Math.round(run.progress * 100)}%
                </td>
                <td>{run.trigger?.type ?? '—'}</td>
                <td>{formatLocal(run.createdAt)}</td>
                <td>{formatDuration(run.durationMs)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div class="actions">
        <button
          type="button"
          class="secondary"
          disabled={offset === 0}
          onClick={() => setFilter('offset', String(Math.max(0, offset - PAGE)))}
        >
          Newer
        </button>
        <button
          type="button"
          class="secondary"
          disabled={(runs.data?.length ?? 0) < PAGE}
          onClick={() => setFilter('offset', String(offset + PAGE))}
        >
          Older
        </button>
      </div>
    </>
  );
}
