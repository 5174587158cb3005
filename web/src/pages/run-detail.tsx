import { useState } from 'preact/hooks';
import { api, isFinal, type RunDetail } from '../api';
import { ErrorNotice, Json, Loading, StatusBadge } from '../components/common';
import { StepTimeline } from '../components/timeline';
import { formatDuration, formatLocal } from '../format';
import { Link } from '../router';
import { attemptsOf } from '../timeline-layout';
import { usePoll } from '../use-poll';
import { DeliveriesSection } from './deliveries';

/** What the run is doing beyond its status: waiting until a time, for an event, or a cancel request. */
function activity(run: RunDetail): string {
  if (isFinal(run.status)) return run.finishedAt ? `finished ${formatLocal(run.finishedAt)}` : '';
  const last = run.timeline[run.timeline.length - 1];
  if (run.timeline.some((e) => e.type === 'run.cancel_requested')) return 'cancel requested';
  if (last?.type === 'run.waiting') {
    const wake = last.data?.wake_at;
    return typeof wake === 'number' ? `waiting until ${formatLocal(wake)}` : 'waiting';
  }
  if (last?.type === 'step.retry_scheduled')
    return `retry scheduled (step ${String(last.data?.step_id ?? '')})`;
  return run.status === 'pending' ? 'queued' : `at step ${run.currentStep ?? '?'} of ${run.totalSteps}`;
}

export function RunDetailPage({ id }: { id: string }) {
  const [live, setLive] = useState(true);
  const run = usePoll(
    async () => {
      const detail = await api.getRun(id);
      if (isFinal(detail.status)) setLive(false);
      return detail;
    },
    [id],
    { intervalMs: 1500, live },
  );
  const workflowId = run.data?.workflowId;
  const workflow = usePoll(
    () => (workflowId ? api.getWorkflow(workflowId) : Promise.resolve(null)),
    [workflowId],
    {
      live: false,
    },
  );
  const [cancelError, setCancelError] = useState<unknown>(null);
  const [cancelling, setCancelling] = useState(false);

  if (run.data === undefined) {
    return (
      <>
        <h1>Run {id}</h1>
        <ErrorNotice error={run.error} />
        {run.loading && <Loading what="the run" />}
      </>
    );
  }
  const detail = run.data;
  const final = isFinal(detail.status);
  const attempts = attemptsOf(detail, detail.steps, detail.timeline, final);

  const cancel = async () => {
    setCancelling(true);
    setCancelError(null);
    try {
      await api.cancelRun(detail.workflowId, detail.jobId);
      setLive(true);
      await run.reload();
    } catch (caught) {
      setCancelError(caught);
    } finally {
      setCancelling(false);
    }
  };

  return (
    <>
      <p class="crumbs">
        <Link href="/runs">Runs</Link> /
      </p>
      <div class="page-head">
        <h1>Run {detail.jobId}</h1>
        {!final && (
          <button type="button" class="danger" onClick={cancel} disabled={cancelling}>
            Cancel run
          </button>
        )}
      </div>
      <p role="status" aria-live="polite" class="run-status">
        Status: <StatusBadge status={detail.status} /> <span class="visually-hidden">{detail.status}</span>
        <span class="muted"> {activity(detail)}</span>
      </p>
      <ErrorNotice error={cancelError ?? run.error} />
      <dl class="facts">
        <div>
          <dt>Workflow</dt>
          <dd>
            <Link href={`/workflows/${encodeURIComponent(detail.workflowId)}`}>
              {workflow.data?.title ?? detail.workflowId}
            </Link>{' '}
            (version {detail.workflowVersion})
          </dd>
        </div>
        <div>
          <dt>Trigger</dt>
          <dd>{detail.trigger?.type ?? '—'}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>{formatLocal(detail.createdAt)}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{formatLocal(detail.startedAt)}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{formatDuration(detail.durationMs)}</dd>
        </div>
        <div>
          <dt>Progress</dt>
          <dd>
            <progress max={1} value={detail.progress} aria-label="Run progress" />{' '}
            {Math.round(detail.progress * 100)}%
          </dd>
        </div>
      </dl>

      <h2>Timeline</h2>
      <StepTimeline attempts={attempts} now={Date.now()} />

      <h2>Steps</h2>
      {detail.steps.length === 0 && <p>No step has finished yet.</p>}
      {detail.steps.map((step) => (
        <article
          key={`${step.stepId}#${step.attempt}`}
          class={`card step step-${step.status}`}
          aria-label={`${step.stepId} attempt ${step.attempt}`}
        >
          <h3>
            <code>{step.stepId}</code> <span class="muted small">{step.tool}</span> · attempt {step.attempt}{' '}
            <StatusBadge status={step.status} />{' '}
            <span class="muted small">
              {step.startedAt && step.finishedAt
                ? `ran ${formatDuration(Date.parse(step.finishedAt) - Date.parse(step.startedAt))}`
                : ''}
            </span>
          </h3>
          <div class="io">
            <div>
              <h4>Input</h4>
              <Json value={step.input} label={`Input of ${step.stepId} attempt ${step.attempt}`} />
            </div>
            <div>
              <h4>{step.error ? 'Error' : 'Output'}</h4>
              <Json
                value={step.error ?? step.output}
                label={`${step.error ? 'Error' : 'Output'} of ${step.stepId} attempt ${step.attempt}`}
              />
            </div>
          </div>
        </article>
      ))}

      <div class="io">
        <section aria-labelledby="run-input-heading">
          <h2 id="run-input-heading">Input</h2>
          <Json value={detail.input} label="Run input" />
        </section>
        <section aria-labelledby="run-output-heading">
          <h2 id="run-output-heading">{detail.error ? 'Error' : 'Output'}</h2>
          <Json value={detail.error ?? detail.output} label={detail.error ? 'Run error' : 'Run output'} />
        </section>
      </div>

      <DeliveriesSection runId={detail.jobId} final={final} />

      <details>
        <summary>Events ({detail.timeline.length})</summary>
        <ol class="events">
          {detail.timeline.map((event) => (
            <li key={event.seq}>
              <span class="muted small">{formatLocal(event.at)}</span> <code>{event.type}</code>{' '}
              {event.data && Object.keys(event.data).length > 0 && (
                <span class="small">{JSON.stringify(event.data)}</span>
              )}
            </li>
          ))}
        </ol>
      </details>
    </>
  );
}
