import type { Overlap, StepRequest } from './chaos-recorder.js';
import type { Death } from './cluster.js';
import type { RunRow, Snapshot, StepRow } from './snapshot.js';
import type { GeneratedWorkflow, RunInput } from './workflow-generator.js';

export const INVARIANTS = {
  'run-ends': 'every accepted run reaches a final status once the faults stop',
  'no-resend-after-commit': 'no request of a step arrives after that step execution was committed',
  'idempotency-key-stable': 'every delivery of one step execution carries the same Idempotency-Key',
  'idempotency-key-unique': 'two different step executions (e.g. loop passes) never share an Idempotency-Key',
  'committed-once':
    'each step execution is committed at most once; a completed run committed exactly its path',
  'cursor-forward': "the steps a run starts walk its path forwards (a run's cursor never moves backwards)",
  'single-execution': 'no two requests of one run are in flight at once (two live executions of a run)',
  'lease-exclusive': "no claim takes a run while another owner's lease on it is still live (database clock)",
  'event-received': 'an event published after its wait began is the one the wait receives, promptly',
  'event-once': 'a wait is woken at most once, and by the event whose publish answer said it resumed the run',
  'parent-wakes': 'a parent waiting on a sub-workflow continues within 10 s of the child ending',
  'credit-ledger':
    'the ledger sums to the balance; each final run has one reserve and one consume or release',
  'cancel-honoured': 'a run whose cancel was accepted ends cancelled (or had already finished)',
  'process-survives': 'no stepwise process exits unless the harness killed it',
} as const;
export type Invariant = keyof typeof INVARIANTS;

export interface Violation {
  invariant: Invariant;
  run?: string;
  detail: string;
}

/** A run the harness started (children are found through parent_run_id). */
export interface StartedRun {
  id: string;
  slug: string;
  input: RunInput;
  /** When a cancel was accepted (HTTP 2xx), in harness time. */
  cancelAcceptedAt: number | null;
  cancelAttempted: boolean;
}

export interface Publish {
  nonce: string;
  runKey: string;
  kind: 'primary' | 'rescue';
  postedAt: number;
  /** `resumed_run_ids` of the answer; null when the publish failed or got no answer. */
  resumed: string[] | null;
}

export interface CheckInput {
  snapshot: Snapshot;
  workflows: Map<string, GeneratedWorkflow>;
  started: StartedRun[];
  requests: StepRequest[];
  overlaps: Overlap[];
  publishes: Publish[];
  /** [SIGSTOP, SIGCONT] windows: a paused process may deliver a request it had begun on resume. */
  pauses: [number, number][];
  deaths: Death[];
  apiBalance: number | null;
  leaseMs: number;
}

export interface CheckResult {
  checked: Record<Invariant, number>;
  violations: Violation[];
}

const FINAL = new Set(['completed', 'partial_complete', 'failed', 'cancelled']);
const PAUSE_SLACK_MS = 300;
const PARENT_WAKE_LIMIT_MS = 10_000;
const EVENT_MARGIN_MS = 1;
const LEASE_SLACK_MS = 50;
const EVENT_PROMPT_MS = 1000;

const iterOf = (step: StepRow): string => {
  const body = (step.output as { body?: { iter?: unknown } } | null)?.body;
  return String(body?.iter ?? '?');
};

/** Checks every invariant over what the recorder saw and what the database holds. */
export function checkInvariants(input: CheckInput): CheckResult {
  const checked = Object.fromEntries(Object.keys(INVARIANTS).map((key) => [key, 0])) as Record<
    Invariant,
    number
  >;
  const violations: Violation[] = [];
  const fail = (invariant: Invariant, run: string | undefined, detail: string) =>
    violations.push({ invariant, run, detail });
  const { snapshot } = input;
  const excused = (at: number) =>
    input.pauses.some(([stop, cont]) => at >= stop && at <= cont + PAUSE_SLACK_MS);

  const slugById = new Map(snapshot.workflows.map((w) => [w.id, w.slug]));
  const startedById = new Map(input.started.map((run) => [run.id, run]));
  const runsById = new Map(snapshot.runs.map((run) => [run.id, run]));
  const stepsByRun = group(snapshot.steps, (step) => step.run_id);
  const timelineByRun = group(snapshot.timeline, (event) => event.run_id);
  const requestsByRun = group(input.requests, (request) => request.run);
  /** A child is cancelled with its parent's cancel too. */
  const cancelTouched = (run: RunRow): boolean => {
    for (
      let current: RunRow | undefined = run;
      current;
      current = runsById.get(current.parent_run_id ?? '')
    ) {
      if (startedById.get(current.id)?.cancelAttempted) return true;
    }
    return false;
  };

  // run-ends: the harness's runs (a start it got no answer to is not "accepted") and their children.
  for (const started of input.started) {
    checked['run-ends'] += 1;
    const run = runsById.get(started.id);
    if (!run) fail('run-ends', started.id, 'the accepted run is not stored');
    else if (!FINAL.has(run.status)) fail('run-ends', run.id, `still ${run.status} after the settle time`);
  }
  for (const run of snapshot.runs) {
    if (!run.parent_run_id) continue;
    checked['run-ends'] += 1;
    if (!FINAL.has(run.status)) fail('run-ends', run.id, `child of ${run.parent_run_id} still ${run.status}`);
  }

  // Idempotency keys: one per step execution (run, step, iteration), the same on every delivery.
  const keysByExecution = new Map<string, Set<string>>();
  const executionsByKey = new Map<string, Set<string>>();
  for (const request of input.requests) {
    const execution = `${request.run}|${request.step}|${request.iter}`;
    const key = request.idempotencyKey ?? '(none)';
    (keysByExecution.get(execution) ?? keysByExecution.set(execution, new Set()).get(execution)!).add(key);
    (executionsByKey.get(key) ?? executionsByKey.set(key, new Set()).get(key)!).add(execution);
  }
  for (const [execution, keys] of keysByExecution) {
    checked['idempotency-key-stable'] += 1;
    if (keys.size > 1)
      fail(
        'idempotency-key-stable',
        execution.split('|')[0],
        `${execution} sent with keys ${[...keys].join(', ')}`,
      );
  }
  for (const [key, executions] of executionsByKey) {
    checked['idempotency-key-unique'] += 1;
    if (executions.size > 1)
      fail(
        'idempotency-key-unique',
        key.split(':')[0],
        `key ${key} used by ${executions.size} step executions: ${[...executions].map((e) => e.split('|').slice(1).join(' pass ')).join('; ')}`,
      );
  }

  for (const run of snapshot.runs) {
    const slug = slugById.get(run.workflow_id) ?? '';
    const workflow = input.workflows.get(slug);
    if (!workflow) continue;
    const runInput = run.input as unknown as RunInput;
    const path = workflow.path(runInput);
    const steps = stepsByRun.get(run.id) ?? [];
    const timeline = timelineByRun.get(run.id) ?? [];
    const requests = requestsByRun.get(run.id) ?? [];
    const completed = steps.filter((step) => step.status === 'completed');

    // no-resend-after-commit
    for (const step of completed.filter((s) => s.tool === 'http')) {
      checked['no-resend-after-commit'] += 1;
      const iter = iterOf(step);
      // The committed answer names the request it answered: any later request of the same
      // step pass was sent again after that answer, whatever the processes' clocks say.
      const answered = (step.output as { body?: { seq?: unknown } } | null)?.body?.seq;
      if (typeof answered !== 'number') continue;
      const later = requests.filter(
        (r) => r.step === step.step_id && r.iter === iter && r.seq > answered && !excused(r.arrivedAt),
      );
      if (later.length > 0)
        fail(
          'no-resend-after-commit',
          run.id,
          `${step.step_id} pass ${iter} committed from request #${answered}, requested again ${later.length}× (first #${later[0]!.seq})`,
        );
    }

    // committed-once
    checked['committed-once'] += 1;
    const counts = new Map<string, number>();
    for (const step of completed) {
      const id = step.tool === 'http' ? `${step.step_id} pass ${iterOf(step)}` : step.step_id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const expected = new Map<string, number>();
    for (const id of path) expected.set(id, (expected.get(id) ?? 0) + 1);
    const problems: string[] = [];
    for (const [id, count] of counts) {
      const http = id.includes(' pass ');
      const limit = http ? 1 : (expected.get(id) ?? 0);
      if (count > limit) problems.push(`${id} committed ${count}× (expected at most ${limit})`);
    }
    if (run.status === 'completed') {
      const got = completed.map((s) => s.step_id).sort();
      const want = [...path].sort();
      if (got.join(',') !== want.join(','))
        problems.push(
          `completed with steps [${completed.map((s) => s.step_id).join(',')}], path is [${path.join(',')}]`,
        );
    }
    if (problems.length > 0) fail('committed-once', run.id, problems.join('; '));

    // cursor-forward: step.started in commit order walks the path without going back.
    checked['cursor-forward'] += 1;
    let position = 0;
    for (const event of timeline.filter((e) => e.type === 'step.started')) {
      const id = String(event.data.step_id);
      if (path[position] === id) continue;
      const next = path.indexOf(id, position + 1);
      if (next < 0) {
        const back = path.lastIndexOf(id, position);
        fail(
          'cursor-forward',
          run.id,
          back >= 0
            ? `started ${id} (path position ${back}) after reaching ${path[position]} (position ${position}): the cursor moved back`
            : `started ${id}, which is not on its path [${path.join(',')}]`,
        );
        break;
      }
      position = next;
    }

    // single-execution
    for (const overlap of input.overlaps.filter((o) => o.run === run.id)) {
      if (excused(overlap.second.arrivedAt) || excused(overlap.first.arrivedAt)) continue;
      fail(
        'single-execution',
        run.id,
        `${overlap.second.step} pass ${overlap.second.iter} arrived while ${overlap.first.step} pass ${overlap.first.iter} (${overlap.second.arrivedAt - overlap.first.arrivedAt} ms earlier) was still in flight`,
      );
    }
    if (requests.length > 0) checked['single-execution'] += 1;

    const cancelled = cancelTouched(run) || run.status === 'cancelled';
    const runKey = String(runInput.run_key);

    // Waits for events.
    let wokeAllowed = 0;
    for (const [waitId] of workflow.waits) {
      if (!path.includes(waitId)) continue;
      wokeAllowed += 1;
      // The last start of the wait step: an event stored before a re-start (after a crash) is not held against it.
      const began = timeline.filter((e) => e.type === 'step.started' && e.data.step_id === waitId).at(-1);
      const row = completed.find((s) => s.step_id === waitId);
      if (!began || cancelled) continue;
      if (!row) continue; // still waiting or ended otherwise: run-ends speaks for it
      checked['event-received'] += 1;
      const mine = snapshot.events
        .filter((e) => e.data.run_key === `${runKey}-${waitId}`)
        .sort((a, b) => a.created_at - b.created_at);
      const qualifying = mine.filter((e) => e.created_at > began.at + EVENT_MARGIN_MS);
      const output = row.output as {
        received?: boolean;
        timed_out?: boolean;
        event?: { nonce?: string };
      } | null;
      const got = output?.event?.nonce;
      const first = qualifying[0];
      if (first) {
        const received = mine.find((e) => e.data.nonce === got);
        if (!output?.received)
          fail(
            'event-received',
            run.id,
            `${waitId}: event ${String(first.data.nonce)} stored ${first.created_at - began.at} ms after the wait began was never received (timed_out=${String(output?.timed_out)})`,
          );
        else if (
          received &&
          received.data.nonce !== first.data.nonce &&
          received.created_at - first.created_at > EVENT_PROMPT_MS
        )
          fail(
            'event-received',
            run.id,
            `${waitId}: event ${String(first.data.nonce)} (${String(first.data.kind)}) stored ${first.created_at - began.at} ms after the wait began was lost; the wait received ${String(received.data.kind)} event ${String(got)} ${received.created_at - first.created_at} ms later`,
          );
      }
      // event-once, by the publish answers.
      for (const publish of input.publishes.filter((p) => p.runKey === `${runKey}-${waitId}`)) {
        if (!publish.resumed?.includes(run.id)) continue;
        checked['event-once'] += 1;
        if (got !== publish.nonce)
          fail(
            'event-once',
            run.id,
            `${waitId}: the publish of ${publish.nonce} answered that it resumed this run, but the wait received ${String(got)}`,
          );
      }
    }
    if (wokeAllowed > 0 && !cancelled) {
      checked['event-once'] += 1;
      const woke = timeline.filter((e) => e.type === 'run.woke' && e.data.reason === 'event').length;
      if (woke > wokeAllowed)
        fail('event-once', run.id, `woken by an event ${woke}× for ${wokeAllowed} wait(s)`);
    }

    // parent-wakes
    for (const [subId] of workflow.children) {
      if (!path.includes(subId) || cancelled) continue;
      const child = snapshot.runs.find(
        (r) => r.parent_run_id === run.id && r.input.run_key === `${runKey}-${subId}`,
      );
      if (!child || child.finished_at === null) continue;
      const resumed = timeline.find(
        (e) => (e.type === 'step.completed' || e.type === 'step.failed') && e.data.step_id === subId,
      );
      if (!resumed) continue;
      checked['parent-wakes'] += 1;
      const gap = resumed.at - child.finished_at;
      if (gap > PARENT_WAKE_LIMIT_MS)
        fail(
          'parent-wakes',
          run.id,
          `${subId}: child ${child.id} ended ${gap} ms before the parent's step finished; parent after the child's end: ${timeline
            .filter((e) => e.at >= child.finished_at! - 2000 && e.at <= resumed.at)
            .map(
              (e) =>
                `${e.type}@${e.at - child.finished_at!}${e.type === 'run.waiting' ? `(wake ${Number(e.data.wake_at) - child.finished_at!})` : ''}`,
            )
            .join(' ')}`,
        );
    }
  }

  // lease-exclusive: takeovers logged by the trigger, judged on the database's clock.
  for (const takeover of snapshot.takeovers) {
    checked['lease-exclusive'] += 1;
    const early = takeover.old_expires_at - takeover.at;
    if (early > LEASE_SLACK_MS)
      fail(
        'lease-exclusive',
        takeover.run_id,
        `${takeover.new_owner} claimed the run ${early} ms before the lease of ${takeover.old_owner} expired`,
      );
  }

  // credit-ledger
  checked['credit-ledger'] += 1;
  const sum = snapshot.ledger.reduce((total, row) => total + row.amount, 0);
  if (input.apiBalance === null) fail('credit-ledger', undefined, 'the API did not report a balance');
  else if (sum !== input.apiBalance)
    fail(
      'credit-ledger',
      undefined,
      `ledger sums to ${sum}, the API reports a balance of ${input.apiBalance}`,
    );
  const ledgerByRun = group(
    snapshot.ledger.filter((row) => row.run_id !== null),
    (row) => row.run_id!,
  );
  for (const run of snapshot.runs) {
    if (run.credits_reserved <= 0 || !FINAL.has(run.status)) continue;
    checked['credit-ledger'] += 1;
    const rows = ledgerByRun.get(run.id) ?? [];
    const reserves = rows.filter((row) => row.kind === 'reserve');
    const settles = rows.filter((row) => row.kind === 'consume' || row.kind === 'release');
    const consumed = run.status === 'completed' || run.status === 'partial_complete';
    const ok =
      reserves.length === 1 &&
      reserves[0]!.amount === -run.credits_reserved &&
      settles.length === 1 &&
      settles[0]!.kind === (consumed ? 'consume' : 'release') &&
      settles[0]!.amount === (consumed ? 0 : run.credits_reserved);
    if (!ok)
      fail(
        'credit-ledger',
        run.id,
        `${run.status} run reserving ${run.credits_reserved} has ledger rows ${JSON.stringify(rows.map((r) => [r.kind, r.amount]))}`,
      );
  }

  // cancel-honoured
  for (const started of input.started) {
    if (started.cancelAcceptedAt === null) continue;
    checked['cancel-honoured'] += 1;
    const run = runsById.get(started.id);
    if (!run || !FINAL.has(run.status)) continue; // run-ends reports it
    if (
      run.status !== 'cancelled' &&
      (run.finished_at ?? 0) > started.cancelAcceptedAt + input.leaseMs + 3000
    )
      fail(
        'cancel-honoured',
        run.id,
        `cancel accepted, yet the run ended ${run.status} ${(run.finished_at ?? 0) - started.cancelAcceptedAt} ms later`,
      );
  }

  checked['process-survives'] += 1;
  for (const death of input.deaths)
    fail(
      'process-survives',
      undefined,
      `${death.name} exited (code ${String(death.code)}, signal ${String(death.signal)}): ${death.tail.split('\n').filter(Boolean).slice(-12).join(' | ').slice(0, 1500)}`,
    );

  return { checked, violations };
}

function group<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = map.get(k);
    if (list) list.push(item);
    else map.set(k, [item]);
  }
  return map;
}
