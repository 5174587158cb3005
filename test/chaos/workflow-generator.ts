import type { Prng } from './prng.js';

/** A step as the `/v1/workflows` route takes it. */
export interface StepSpec {
  id: string;
  tool: string;
  params: Record<string, unknown>;
  retry?: { max_attempts: number; backoff: 'fixed' | 'exponential'; initial_ms: number; max_ms: number };
}

/** What a run of a generated workflow is started with. */
export interface RunInput {
  /** Unique per run: waits match `<run_key>-<wait step id>`, children get `<run_key>-<step id>`. */
  run_key: string;
  /** Passes through the loop, when the workflow has one. */
  loops: number;
  /** Whether the forward branch (condition → goto) is taken, skipping the step after it. */
  branch: boolean;
}

export interface GeneratedWorkflow {
  slug: string;
  title: string;
  steps: StepSpec[];
  creditCost: number;
  /** Children are only started by a parent's `workflow` step. */
  role: 'parent' | 'child';
  hasLoop: boolean;
  /** wait step id → the http step just before it, whose arrival at the recorder times the event. */
  waits: Map<string, string>;
  /** `workflow` step id → child slug. */
  children: Map<string, string>;
  /** The step ids a run that completes executes, in order. */
  path(input: RunInput): string[];
}

export const EVENT_TYPE = 'chaos.signal';
/** A wait times out only when its event was lost and no rescue reached it either. */
export const WAIT_TIMEOUT_MS = 120_000;

const RETRY = { max_attempts: 6, backoff: 'fixed', initial_ms: 100, max_ms: 100 } as const;

type Piece = { steps: StepSpec[]; path: (input: RunInput) => string[] };

function httpStep(id: string, recorderUrl: string, route: 'step' | 'gate', iter: string | number): StepSpec {
  return {
    id,
    tool: 'http',
    params: {
      method: 'POST',
      url: `${recorderUrl}/${route}`,
      json: { run: '{{ run.id }}', step: id, iter },
    },
    retry: { ...RETRY },
  };
}

/**
 * Random, valid workflows of http calls to the recorder, delays, waits for events, sub-workflows,
 * forward branches and loops (a `condition` going back), and the path each input takes.
 */
export class WorkflowGenerator {
  private count = 0;

  constructor(
    private readonly random: Prng,
    private readonly recorderUrl: string,
  ) {}

  /** A child: 1–3 of http, delay, log; a third are a single log step, which ends before any parent can park. */
  child(): GeneratedWorkflow {
    const slug = `chaos-child-${(this.count += 1)}`;
    const steps: StepSpec[] = [];
    if (this.random.chance(0.35)) {
      steps.push({ id: 'only', tool: 'log', params: { message: 'child {{ run.id }}' } });
    } else {
      const length = this.random.int(1, 3);
      for (let i = 0; i < length; i += 1) {
        const kind = this.random.weighted({ http: 3, delay: 1, log: 1 });
        const id = `c${i}_${kind}`;
        if (kind === 'http') steps.push(httpStep(id, this.recorderUrl, 'step', 0));
        else if (kind === 'delay')
          steps.push({ id, tool: 'delay', params: { duration_ms: this.random.int(20, 400) } });
        else steps.push({ id, tool: 'log', params: { message: 'child step {{ run.id }}' } });
      }
    }
    const ids = steps.map((step) => step.id);
    return this.workflow(slug, steps, 'child', false, new Map(), new Map(), () => ids);
  }

  /** A parent of 2–6 pieces; `children` are the slugs its `workflow` steps may start. */
  parent(children: string[]): GeneratedWorkflow {
    const slug = `chaos-wf-${(this.count += 1)}`;
    const pieces: Piece[] = [];
    const waits = new Map<string, string>();
    const subs = new Map<string, string>();
    let hasLoop = false;
    const length = this.random.int(2, 6);
    for (let i = 0; i < length; i += 1) {
      const kind = this.random.weighted({
        http: 4,
        delay: 2,
        wait: waits.size < 2 ? 2 : 0,
        sub: children.length > 0 ? 2 : 0,
        loop: hasLoop ? 0 : 1.5,
        branch: 1,
        transform: 1,
      });
      const p = `s${i}`;
      const single = (step: StepSpec): Piece => ({ steps: [step], path: () => [step.id] });
      switch (kind) {
        case 'http':
          pieces.push(single(httpStep(`${p}_http`, this.recorderUrl, 'step', 0)));
          break;
        case 'delay':
          pieces.push(
            single({ id: `${p}_delay`, tool: 'delay', params: { duration_ms: this.random.int(20, 1200) } }),
          );
          break;
        case 'transform':
          pieces.push(
            single({
              id: `${p}_transform`,
              tool: 'transform',
              params: { expression: '$uppercase(k)', data: { k: '{{ input.run_key }}' } },
            }),
          );
          break;
        case 'wait': {
          const gate = httpStep(`${p}_gate`, this.recorderUrl, 'gate', 0);
          const wait: StepSpec = {
            id: `${p}_wait`,
            tool: 'wait_for_event',
            params: {
              event_type: EVENT_TYPE,
              match: { run_key: `{{ input.run_key }}-${p}_wait` },
              timeout_ms: WAIT_TIMEOUT_MS,
              on_timeout: 'continue',
            },
          };
          waits.set(wait.id, gate.id);
          pieces.push({ steps: [gate, wait], path: () => [gate.id, wait.id] });
          break;
        }
        case 'sub': {
          const child = this.random.pick(children);
          const id = `${p}_sub`;
          subs.set(id, child);
          pieces.push(
            single({
              id,
              tool: 'workflow',
              params: { workflow: child, input: { run_key: `{{ input.run_key }}-${id}` }, wait: true },
            }),
          );
          break;
        }
        case 'loop': {
          hasLoop = true;
          const count = `${p}_count`;
          const call = `${p}_call`;
          const back = `${p}_back`;
          pieces.push({
            steps: [
              {
                id: count,
                tool: 'transform',
                params: {
                  expression: `$exists(${count}.output) ? ${count}.output + 1 : 1`,
                  data: '{{ steps }}',
                },
              },
              httpStep(call, this.recorderUrl, 'step', `{{ steps.${count}.output }}`),
              {
                id: back,
                tool: 'condition',
                params: {
                  cases: [{ when: 'n < limit', goto: count }],
                  data: { n: `{{ steps.${count}.output }}`, limit: '{{ input.loops }}' },
                },
              },
            ],
            path: (input) => Array.from({ length: input.loops }, () => [count, call, back]).flat(),
          });
          break;
        }
        case 'branch': {
          const fork = `${p}_fork`;
          const skipped = `${p}_maybe`;
          const landing = `${p}_landing`;
          pieces.push({
            steps: [
              {
                id: fork,
                tool: 'condition',
                params: { cases: [{ when: 'b', goto: landing }], data: { b: '{{ input.branch }}' } },
              },
              httpStep(skipped, this.recorderUrl, 'step', 0),
              { id: landing, tool: 'log', params: { message: 'landed {{ run.id }}' } },
            ],
            path: (input) => (input.branch ? [fork, landing] : [fork, skipped, landing]),
          });
          break;
        }
      }
    }
    const steps = pieces.flatMap((piece) => piece.steps);
    return this.workflow(slug, steps, 'parent', hasLoop, waits, subs, (input) =>
      pieces.flatMap((piece) => piece.path(input)),
    );
  }

  input(index: number): RunInput {
    return { run_key: `k${index}`, loops: this.random.int(1, 3), branch: this.random.chance(0.5) };
  }

  private workflow(
    slug: string,
    steps: StepSpec[],
    role: 'parent' | 'child',
    hasLoop: boolean,
    waits: Map<string, string>,
    children: Map<string, string>,
    path: (input: RunInput) => string[],
  ): GeneratedWorkflow {
    return {
      slug,
      title: slug,
      steps,
      creditCost: this.random.int(1, 5),
      role,
      hasLoop,
      waits,
      children,
      path,
    };
  }
}
