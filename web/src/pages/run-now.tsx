import { useState } from 'preact/hooks';
import { api, type InputSpec, type Workflow } from '../api';
import { initialInput, parseObject, withField } from '../inputs';
import { ErrorNotice } from '../components/common';
import { navigate } from '../router';

/**
 * One declared input as a form field, kept in step with the JSON: strings, numbers and
 * booleans get a field; objects and arrays are edited in the JSON itself.
 */
function InputField(props: {
  name: string;
  spec: InputSpec;
  json: string;
  onChange: (json: string) => void;
}) {
  const { name, spec, json, onChange } = props;
  const id = `run-input-${name}`;
  const current = parseObject(json)?.[name];
  const hint = (
    <span class="muted small">
      {' '}
      ({spec.type}
      {spec.required ? ', required' : ''}){spec.description ? ` ${spec.description}` : ''}
    </span>
  );
  if (spec.type === 'boolean') {
    return (
      <div class="check">
        <input
          id={id}
          type="checkbox"
          checked={current === true}
          onChange={(e) => onChange(withField(json, name, e.currentTarget.checked))}
        />
        <label for={id}>
          {name}
          {hint}
        </label>
      </div>
    );
  }
  if (spec.type === 'string' || spec.type === 'number') {
    const value = current === undefined || current === null ? '' : String(current);
    const label = (
      <label for={id}>
        {name}
        {hint}
      </label>
    );
    return spec.type === 'number' ? (
      <div>
        {label}
        <input
          id={id}
          type="number"
          required={spec.required}
          value={value}
          onInput={(e) => {
            const text = e.currentTarget.value;
            onChange(withField(json, name, text === '' ? null : Number(text)));
          }}
        />
      </div>
    ) : (
      <div>
        {label}
        <input
          id={id}
          type="text"
          required={spec.required}
          value={value}
          onInput={(e) => onChange(withField(json, name, e.currentTarget.value))}
        />
      </div>
    );
  }
  return (
    <p class="small">
      <code>{name}</code>
      {hint}: edit it in the JSON below.
    </p>
  );
}

export function RunNow({ workflow }: { workflow: Workflow }) {
  const inputs = workflow.metadata?.inputs;
  const [input, setInput] = useState(() => initialInput(inputs));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    let parsed: unknown;
    try {
      parsed = input.trim() === '' ? {} : JSON.parse(input);
    } catch (caught) {
      setError(new Error(`Input (JSON) is not valid JSON: ${(caught as Error).message}`));
      return;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      setError(new Error('Input (JSON) must be an object, e.g. { "name": "Ada" }'));
      return;
    }
    setBusy(true);
    try {
      const started = await api.runWorkflow(workflow.id, parsed as Record<string, unknown>);
      navigate(`/runs/${encodeURIComponent(started.jobId)}`);
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="run-now-heading" class="card">
      <h2 id="run-now-heading">Run now</h2>
      <form onSubmit={submit}>
        {inputs && Object.keys(inputs).length > 0 && (
          <fieldset class="inputs">
            <legend>Inputs this workflow declares</legend>
            {Object.entries(inputs).map(([name, spec]) => (
              <InputField key={name} name={name} spec={spec} json={input} onChange={setInput} />
            ))}
          </fieldset>
        )}
        <label for="run-input">Input (JSON)</label>
        <textarea
          id="run-input"
          class="code"
          rows={5}
          spellcheck={false}
          value={input}
          onInput={(e) => setInput(e.currentTarget.value)}
        />
        <ErrorNotice error={error} />
        <button type="submit" disabled={busy}>
          Start run
        </button>
      </form>
    </section>
  );
}
