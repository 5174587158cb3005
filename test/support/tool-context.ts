import { notFound } from '../../src/domain/errors.js';
import { evaluateExpression, type ExpressionEvaluator } from '../../src/domain/expression.js';
import type { Millis } from '../../src/domain/model.js';
import type { StepTool, SubRunPort, ToolContext, ToolOutcome, ToolSettings } from '../../src/tools/tool.js';

/** A sub-run held by {@link FakeSubRunPort}. */
export interface FakeRun {
  id: string;
  workflow: string;
  input: unknown;
  idempotency_key: string;
  status: string;
  output: unknown;
  error: { code: string; message: string } | null;
}

/**
 * An in-memory {@link SubRunPort}: `start` is idempotent per key like the real service;
 * tests move runs along with `finish`.
 */
export class FakeSubRunPort implements SubRunPort {
  readonly runs = new Map<string, FakeRun>();

  /** @param knownWorkflows when given, starting any other workflow fails with a 404 as the service would. */
  constructor(private readonly knownWorkflows?: readonly string[]) {}

  async start(workflow: string, input: unknown, idempotencyKey: string): Promise<{ id: string }> {
    if (this.knownWorkflows && !this.knownWorkflows.includes(workflow)) throw notFound('workflow', workflow);
    for (const run of this.runs.values()) if (run.idempotency_key === idempotencyKey) return { id: run.id };
    const id = `run_child_${this.runs.size + 1}`;
    this.runs.set(id, {
      id,
      workflow,
      input,
      idempotency_key: idempotencyKey,
      status: 'pending',
      output: null,
      error: null,
    });
    return { id };
  }

  async get(
    runId: string,
  ): Promise<{ status: string; output: unknown; error: { code: string; message: string } | null } | null> {
    const run = this.runs.get(runId);
    return run ? { status: run.status, output: run.output, error: run.error } : null;
  }

  /** Moves a run to `status` with its output or error. */
  finish(
    runId: string,
    status: string,
    result: { output?: unknown; error?: { code: string; message: string } } = {},
  ): void {
    const run = this.runs.get(runId);
    if (!run) throw new Error(`no fake run ${runId}`);
    Object.assign(run, { status, output: result.output ?? null, error: result.error ?? null });
  }
}

/** A ToolContext plus the handles a test needs to drive and inspect it. */
export interface TestToolContext extends ToolContext {
  controller: AbortController;
  /** Everything the tool passed to `ctx.log`. */
  logs: Array<{ message: string; data?: Record<string, unknown> }>;
  subRuns: FakeSubRunPort;
  /** Sets the time `now()` returns. */
  setNow(now: Millis): void;
}

/** Overrides for {@link createToolContext}; `settings` are merged into the defaults. */
export interface ToolContextOptions {
  settings?: Partial<ToolSettings>;
  resume?: ToolContext['resume'];
  attempt?: number;
  now?: Millis;
  run_id?: string;
  step_id?: string;
  subRuns?: FakeSubRunPort;
  /**
   * Where the tool's expressions run; by default in this process, which serves tools that
   * evaluate none. Tests of the expression tools pass an `ExpressionPool`.
   */
  expressions?: ExpressionEvaluator;
}

/**
 * Builds a ToolContext for tool tests. Private networks are allowed by default because
 * every test server listens on loopback; tests of the guard turn it off.
 *
 * @example const ctx = createToolContext({ settings: { smtpUrl: sink.url } });
 */
export function createToolContext(options: ToolContextOptions = {}): TestToolContext {
  const run_id = options.run_id ?? 'run_test';
  const step_id = options.step_id ?? 'step_test';
  const controller = new AbortController();
  const logs: TestToolContext['logs'] = [];
  const subRuns = options.subRuns ?? new FakeSubRunPort();
  let now = options.now ?? Date.now();
  return {
    run_id,
    step_id,
    org_id: 'org_test',
    workflow_id: 'wf_test',
    attempt: options.attempt ?? 1,
    iteration: 1,
    reached_at: options.now ?? Date.now(),
    idempotency_key: `${run_id}:${step_id}`,
    signal: controller.signal,
    now: () => now,
    settings: {
      allowPrivateNetwork: true,
      llm: null,
      smtpUrl: null,
      emailFrom: 'Stepwise <stepwise@example.test>',
      ...options.settings,
    },
    resume: options.resume ?? null,
    runs: subRuns,
    expressions: options.expressions ?? {
      evaluate: (expression, data) => evaluateExpression(expression, data),
    },
    log: (message, data) => logs.push(data === undefined ? { message } : { message, data }),
    controller,
    logs,
    subRuns,
    setNow: (value) => {
      now = value;
    },
  };
}

/**
 * Validates `params` with the tool's schema, as the engine does after templating, then
 * executes the tool.
 */
export async function runTool<P>(tool: StepTool<P>, params: unknown, ctx: ToolContext): Promise<ToolOutcome> {
  return tool.execute(tool.params.parse(params), ctx);
}
