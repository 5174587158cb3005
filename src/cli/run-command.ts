import { readFile } from 'node:fs/promises';
import type { Stepwise } from '../app/stepwise.js';
import { StepwiseError, validationError } from '../domain/errors.js';
import type { RunRecord } from '../domain/model.js';
import { isFinalStatus } from '../domain/run-state.js';
import { slugFromTitle, type WorkflowInput } from '../domain/workflow-input.js';
import { describeEvent } from './progress-printer.js';

export interface RunCommandOptions {
  file: string;
  input?: string;
  wait: boolean;
  out: (line: string) => void;
}

/**
 * `stepwise run <workflow-file.json>`: saves the file as a workflow of the default org
 * (a new version when its slug exists), starts a run, and with `--wait` executes it in
 * this process while printing each step. @returns the process exit code.
 */
export async function runWorkflowFile(stepwise: Stepwise, options: RunCommandOptions): Promise<number> {
  const definition = await readWorkflowFile(options.file);
  const input = options.input === undefined ? {} : parseJson(options.input, '--input');
  const orgId = stepwise.defaultOrgId;
  const slug = definition.slug ?? slugFromTitle(definition.title);
  const existing = await stepwise.store.getWorkflowBySlug(orgId, slug);
  const workflow = existing
    ? await stepwise.workflows.update(orgId, existing.id, { ...definition, slug })
    : await stepwise.workflows.create(orgId, { ...definition, slug });
  const { run } = await stepwise.runs.start(orgId, workflow.id, { input, trigger: { type: 'cli' } });
  options.out(`run ${run.id} of ${workflow.slug} (version ${workflow.version})`);
  if (!options.wait) return 0;

  await stepwise.startWorker();
  const finished = await follow(stepwise, run, options.out);
  if (finished.status === 'completed' || finished.status === 'partial_complete') {
    options.out(JSON.stringify(finished.output, null, 2));
    return 0;
  }
  return 1;
}

async function follow(stepwise: Stepwise, run: RunRecord, out: (line: string) => void): Promise<RunRecord> {
  let lastSeq = 0;
  for (;;) {
    const events = await stepwise.store.listRunEvents(run.id);
    for (const event of events.filter((candidate) => candidate.seq > lastSeq)) {
      lastSeq = event.seq;
      const line = describeEvent(event);
      if (line) out(line);
    }
    const current = await stepwise.runs.get(run.org_id, run.id);
    if (isFinalStatus(current.status) && events.some((event) => event.type === `run.${current.status}`))
      return current;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function readWorkflowFile(file: string): Promise<WorkflowInput & { title: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new StepwiseError('FILE_UNREADABLE', 400, `cannot read ${file}: ${(error as Error).message}`);
  }
  const parsed = parseJson(text, file) as Partial<WorkflowInput> | null;
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw validationError(file, `${file}: a workflow file holds a JSON object with title and steps`);
  }
  return {
    ...parsed,
    title: parsed.title ?? file.replace(/^.*\//, '').replace(/\.json$/, ''),
  } as WorkflowInput & { title: string };
}

function parseJson(text: string, field: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw validationError(field, `${field}: not valid JSON (${(error as Error).message})`);
  }
}
