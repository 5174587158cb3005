import { useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorNotice } from '../components/common';
import { isValidTimeZone, viewerTimeZone } from '../format';
import { navigate } from '../router';

const EXAMPLE_STEPS = JSON.stringify(
  [{ id: 'hello', tool: 'log', params: { message: 'Hello from {{ run.id }}' } }],
  null,
  2,
);

type TriggerType = 'manual' | 'scheduled' | 'event';

/** The "New workflow" form: title, description, steps as JSON, and a trigger. */
export function WorkflowForm({ id, onCancel }: { id: string; onCancel: () => void }) {
  const [title, setTitle] = useState('');
  const [description, setDescription] = useState('');
  const [steps, setSteps] = useState(EXAMPLE_STEPS);
  const [trigger, setTrigger] = useState<TriggerType>('manual');
  const [cron, setCron] = useState('0 9 * * 1-5');
  const [timezone, setTimezone] = useState(viewerTimeZone());
  const [eventType, setEventType] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    let parsedSteps: unknown;
    try {
      parsedSteps = JSON.parse(steps);
    } catch (caught) {
      setError(new Error(`Steps (JSON) is not valid JSON: ${(caught as Error).message}`));
      return;
    }
    if (!Array.isArray(parsedSteps)) {
      setError(new Error('Steps (JSON) must be an array of steps, e.g. [{ "id": "a", "tool": "log" }]'));
      return;
    }
    if (trigger === 'scheduled' && !isValidTimeZone(timezone)) {
      setError(new Error(`Time zone '${timezone}' is not an IANA zone such as Europe/Paris`));
      return;
    }
    const triggerConfig =
      trigger === 'scheduled'
        ? { type: 'scheduled', enabled: true, schedule: cron.trim(), timezone: timezone.trim() }
        : trigger === 'event'
          ? { type: 'event', enabled: true, event_type: eventType.trim() }
          : { type: 'manual', enabled: true };
    setBusy(true);
    try {
      const created = await api.createWorkflow({
        title: title.trim(),
        ...(description.trim() ? { description: description.trim() } : {}),
        steps: parsedSteps,
        triggerConfig,
      });
      navigate(`/workflows/${encodeURIComponent(created.id)}`);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form id={id} class="card form" onSubmit={submit} aria-label="New workflow">
      <h2>New workflow</h2>
      <label for="wf-title">Title</label>
      <input
        id="wf-title"
        value={title}
        required
        maxLength={200}
        onInput={(e) => setTitle(e.currentTarget.value)}
      />
      <label for="wf-description">Description</label>
      <input id="wf-description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      <label for="wf-steps">Steps (JSON)</label>
      <textarea
        id="wf-steps"
        rows={8}
        spellcheck={false}
        class="code"
        value={steps}
        onInput={(e) => setSteps(e.currentTarget.value)}
      />
      <label for="wf-trigger">Trigger</label>
      <select
        id="wf-trigger"
        value={trigger}
        onChange={(e) => setTrigger(e.currentTarget.value as TriggerType)}
      >
        <option value="manual">manual</option>
        <option value="scheduled">scheduled</option>
        <option value="event">event</option>
      </select>
      {trigger === 'scheduled' && (
        <div class="row">
          <div>
            <label for="wf-cron">Schedule (cron)</label>
            <input id="wf-cron" value={cron} required onInput={(e) => setCron(e.currentTarget.value)} />
          </div>
          <div>
            <label for="wf-timezone">Time zone</label>
            <input
              id="wf-timezone"
              value={timezone}
              required
              onInput={(e) => setTimezone(e.currentTarget.value)}
            />
          </div>
        </div>
      )}
      {trigger === 'event' && (
        <>
          <label for="wf-event">Event type</label>
          <input
            id="wf-event"
            value={eventType}
            required
            onInput={(e) => setEventType(e.currentTarget.value)}
          />
        </>
      )}
      <ErrorNotice error={error} />
      <div class="actions">
        <button type="submit" disabled={busy}>
          Create workflow
        </button>
        <button type="button" class="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
