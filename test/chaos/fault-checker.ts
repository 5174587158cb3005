import path from 'node:path';
import pg from 'pg';
import { ChaosRecorder, type StepRequest } from './chaos-recorder.js';
import { Cluster, FAKETIME_LIB, sleep, type Backend, type Death, type StepwiseProcess } from './cluster.js';
import {
  checkInvariants,
  INVARIANTS,
  type Invariant,
  type Publish,
  type StartedRun,
  type Violation,
} from './invariants.js';
import { Prng } from './prng.js';
import { postgresReader, sqliteReader, type SnapshotReader } from './snapshot.js';
import { EVENT_TYPE, WorkflowGenerator, type GeneratedWorkflow } from './workflow-generator.js';

export interface ChaosOptions {
  backend: Backend;
  seed: number;
  /** How long runs are started and faults injected. */
  activeMs: number;
  /** How long, after the faults stop, runs get to end. */
  settleMs: number;
  /** PostgreSQL: the (fresh) database every process shares. */
  databaseUrl?: string;
  /** PostgreSQL: `stepwise worker` processes besides the `serve`. */
  workers?: number;
  /** Runs started per second of the active phase (over its first 80 %). */
  runsPerSecond?: number;
  log?: (line: string) => void;
}

export type FaultKind = 'sigkill' | 'pause' | 'short-lease' | 'clock-skew' | 'db-terminate';

export interface ChaosReport {
  seed: number;
  backend: Backend;
  workflows: number;
  runsStarted: number;
  childRuns: number;
  stepRequests: number;
  eventsPublished: number;
  cancelsAccepted: number;
  faults: Record<FaultKind, number>;
  checked: Record<Invariant, number>;
  violations: Violation[];
  notes: string[];
  elapsedMs: number;
}

const BASE_LEASE_MS = 1500;
const RESCUE_AFTER_MS = 3000;

class Api {
  constructor(
    private readonly cluster: Cluster,
    public key: string,
  ) {}

  /** Retries refused connections, timeouts and 5xx (the faults cause them) until `patienceMs` passes. */
  async call(
    method: string,
    route: string,
    body?: unknown,
    patienceMs = 20_000,
  ): Promise<{ status: number; json: Record<string, unknown> | null; attempts: number }> {
    const deadline = Date.now() + patienceMs;
    for (let attempts = 1; ; attempts += 1) {
      let status = 0;
      let json: Record<string, unknown> | null = null;
      try {
        const response = await fetch(`${this.cluster.url}${route}`, {
          method,
          headers: {
            'x-api-key': this.key,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(8000),
        });
        status = response.status;
        const text = await response.text();
        json = text ? (JSON.parse(text) as Record<string, unknown>) : null;
      } catch {
        status = 0;
      }
      if ((status > 0 && status < 500) || Date.now() > deadline) return { status, json, attempts };
      await sleep(150);
    }
  }
}

/**
 * The randomized fault checker: starts real `stepwise` processes, runs random workflows against
 * a loopback recorder while injecting faults, lets the runs settle and checks the invariants.
 */
export async function runFaultChecker(options: ChaosOptions): Promise<ChaosReport> {
  const began = Date.now();
  const log = options.log ?? (() => undefined);
  const random = new Prng(options.seed);
  const faultRandom = random.fork('faults');
  const eventRandom = random.fork('events');
  const runRandom = random.fork('runs');
  const notes: string[] = [];
  const deaths: Death[] = [];
  const faults: Record<FaultKind, number> = {
    sigkill: 0,
    pause: 0,
    'short-lease': 0,
    'clock-skew': 0,
    'db-terminate': 0,
  };
  const pauses: [number, number][] = [];
  const publishes: Publish[] = [];
  const started: StartedRun[] = [];
  const startedById = new Map<string, StartedRun & { workflow: GeneratedWorkflow }>();
  const pending = new Set<Promise<unknown>>();
  const track = (promise: Promise<unknown>) => {
    const tracked = promise.catch((error: unknown) => log(`harness task failed: ${String(error)}`));
    pending.add(tracked);
    void tracked.finally(() => pending.delete(tracked));
  };

  const recorder = await ChaosRecorder.start(options.seed);
  const backend = options.backend;
  const cluster = new Cluster({
    backend,
    databaseUrl: options.databaseUrl,
    workers: backend === 'postgres' ? (options.workers ?? 3) : 0,
    leaseMs: BASE_LEASE_MS,
    onDeath: (death) => {
      deaths.push(death);
      log(`!! ${death.name} died on its own (code ${String(death.code)}, signal ${String(death.signal)})`);
    },
  });
  let reader: SnapshotReader | null = null;
  try {
    await cluster.start();
    const admin = new Api(cluster, cluster.bootstrapKey);
    const created = await admin.call('POST', '/v1/admin/keys', {
      org: 'chaos',
      scopes: ['workflows:read', 'workflows:write', 'events:write'],
      name: 'fault checker',
    });
    if (created.status !== 201)
      throw new Error(`could not create the key: ${created.status} ${JSON.stringify(created.json)}`);
    const api = new Api(cluster, String(created.json!.key));
    reader =
      backend === 'sqlite'
        ? sqliteReader(path.join(cluster.dataDir, 'stepwise.db'))
        : postgresReader(options.databaseUrl!);
    const orgId = (await reader.orgId('chaos'))!;
    await reader.instrument();

    // Workflows: children first, then parents that may start them.
    const generator = new WorkflowGenerator(random.fork('workflows'), recorder.url);
    const minutes = options.activeMs / 60_000;
    const parentCount = Math.round(30 + 10 * minutes);
    const childCount = Math.max(3, Math.round(parentCount / 4));
    const workflows = new Map<string, GeneratedWorkflow>();
    const children = Array.from({ length: childCount }, () => generator.child());
    const parents = Array.from({ length: parentCount }, () => generator.parent(children.map((c) => c.slug)));
    for (const workflow of [...children, ...parents]) {
      const answer = await api.call('POST', '/v1/workflows', {
        title: workflow.title,
        slug: workflow.slug,
        steps: workflow.steps,
        creditCost: workflow.creditCost,
      });
      if (answer.status !== 201)
        throw new Error(`creating ${workflow.slug}: ${answer.status} ${JSON.stringify(answer.json)}`);
      workflows.set(workflow.slug, workflow);
    }
    log(`${workflows.size} workflows created (${parentCount} parents, ${childCount} children)`);

    // Events: one primary publish per wait, timed from the gate request just before it.
    const lastPublish = new Map<string, number>();
    let nonces = 0;
    const publish = async (runKey: string, kind: Publish['kind']) => {
      lastPublish.set(runKey, Date.now());
      const nonce = `n${(nonces += 1)}`;
      const record: Publish = { nonce, runKey, kind, postedAt: Date.now(), resumed: null };
      publishes.push(record);
      // One attempt only: a retry would be another event; a lost answer leaves `resumed` unknown.
      const answer = await api.call(
        'POST',
        '/v1/events',
        { type: EVENT_TYPE, data: { run_key: runKey, nonce, kind } },
        0,
      );
      if (answer.status === 202) record.resumed = (answer.json?.resumed_run_ids as string[]) ?? [];
    };
    const gated = new Set<string>();
    recorder.onGate = (request: StepRequest) => {
      const run = startedById.get(request.run);
      if (!run || gated.has(`${request.run}|${request.step}`)) return;
      gated.add(`${request.run}|${request.step}`);
      const waitId = [...run.workflow.waits].find(([, gate]) => gate === request.step)?.[0];
      if (!waitId) return;
      const timing = new Prng(eventRandom.fork(`${run.input.run_key}|${waitId}`).seed);
      // Most land within a few ms of the wait starting (the race with parking), the rest after it parked.
      const delay = timing.chance(0.6) ? timing.int(0, 30) : timing.int(300, 2500);
      track(sleep(delay).then(() => publish(`${run.input.run_key}-${waitId}`, 'primary')));
    };

    // Rescues: a wait still parked a while after its last publish gets another event, so
    // every run can end; whether it should have needed one is for the invariants to say.
    let rescuing = true;
    const firstSeen = new Map<string, number>();
    const rescuer = (async () => {
      while (rescuing) {
        await sleep(1000);
        try {
          for (const run of await reader!.waitingRuns(orgId)) {
            const key = String((run.wait_match as { run_key?: unknown } | null)?.run_key ?? '');
            if (!key) continue;
            const seen = firstSeen.get(key) ?? firstSeen.set(key, Date.now()).get(key)!;
            const since = Math.max(lastPublish.get(key) ?? 0, seen);
            if (Date.now() - since >= RESCUE_AFTER_MS) track(publish(key, 'rescue'));
          }
        } catch (error) {
          log(`rescue scan failed: ${String(error)}`);
        }
      }
    })();

    // Runs, started at random moments of the first 80 % of the active phase.
    const rate = options.runsPerSecond ?? 3;
    const runCount = Math.max(1, Math.round((rate * options.activeMs * 0.8) / 1000));
    const activeStart = Date.now();
    for (let i = 0; i < runCount; i += 1) {
      const workflow = runRandom.pick(parents);
      const input = generator.input(i);
      const at = runRandom.int(0, Math.floor(options.activeMs * 0.8));
      const cancelAfter = runRandom.chance(0.07) ? runRandom.int(0, 4000) : null;
      track(
        (async () => {
          await sleep(at - (Date.now() - activeStart));
          const answer = await api.call('POST', `/v1/workflows/${workflow.slug}/run`, {
            input,
            idempotencyKey: input.run_key,
          });
          if (answer.status !== 201) {
            log(`start of ${input.run_key} refused: ${answer.status} ${JSON.stringify(answer.json)}`);
            return;
          }
          const run = {
            id: String(answer.json!.jobId),
            slug: workflow.slug,
            input,
            cancelAcceptedAt: null,
            cancelAttempted: false,
            workflow,
          };
          started.push(run);
          startedById.set(run.id, run);
          if (cancelAfter === null) return;
          await sleep(cancelAfter);
          run.cancelAttempted = true;
          const cancel = await api.call('POST', `/v1/workflows/${workflow.slug}/cancel`, { jobId: run.id });
          if (cancel.status >= 200 && cancel.status < 300) (run as StartedRun).cancelAcceptedAt = Date.now();
        })(),
      );
    }
    log(`starting ${runCount} runs over ${Math.round(options.activeMs * 0.8)} ms`);

    // Faults, one at a time, until the active phase ends.
    const skewAvailable = backend === 'postgres' && FAKETIME_LIB !== undefined;
    if (backend === 'postgres' && !skewAvailable)
      notes.push('clock-skew fault skipped: libfaketime is not installed (apt-get install faketime)');
    if (backend === 'sqlite')
      notes.push('clock-skew and db-terminate faults do not apply to SQLite (one process owns the file)');
    const randomLease = () => faultRandom.pick([1000, 1200, 1500]);
    const restartDead = async () => {
      for (const process of [cluster.serve, ...cluster.workers]) {
        if (!process.alive) await cluster.replace(process, BASE_LEASE_MS);
      }
    };
    while (Date.now() - activeStart < options.activeMs) {
      await sleep(faultRandom.int(1200, 3500));
      if (Date.now() - activeStart >= options.activeMs) break;
      await restartDead();
      const kind = faultRandom.weighted({
        sigkill: 3,
        pause: 3,
        'clock-skew': skewAvailable ? 2.5 : 0,
        'db-terminate': backend === 'postgres' ? 1.5 : 0,
      });
      const victim: StepwiseProcess = faultRandom.pick(cluster.executors);
      if (kind === 'sigkill') {
        faults.sigkill += 1;
        await victim.kill();
        await sleep(faultRandom.int(100, 800));
        const lease = randomLease();
        if (lease < BASE_LEASE_MS) faults['short-lease'] += 1;
        await cluster.replace(victim, lease);
        log(`fault: SIGKILL ${victim.name}, restarted with a ${lease} ms lease`);
      } else if (kind === 'pause') {
        faults.pause += 1;
        const ms = BASE_LEASE_MS + faultRandom.int(200, 1500);
        const stop = Date.now();
        victim.pause();
        await sleep(ms);
        victim.resume();
        pauses.push([stop, Date.now()]);
        log(`fault: SIGSTOP ${victim.name} for ${ms} ms`);
      } else if (kind === 'clock-skew') {
        faults['clock-skew'] += 1;
        const skew = faultRandom.int(2000, 5000);
        await victim.kill();
        const skewed = await cluster.replace(victim, BASE_LEASE_MS, skew);
        const ms = faultRandom.int(4000, 8000);
        log(`fault: ${skewed.name} runs with its clock ${skew} ms ahead for ${ms} ms`);
        await sleep(ms);
        await skewed.kill();
        await cluster.replace(skewed, BASE_LEASE_MS);
      } else {
        faults['db-terminate'] += 1;
        const admin = new pg.Client({ connectionString: options.databaseUrl });
        admin.on('error', () => undefined);
        try {
          await admin.connect();
          const result = await admin.query(
            'SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
          );
          log(`fault: terminated ${String(result.rows[0]?.n)} database connections`);
        } finally {
          await admin.end().catch(() => undefined);
        }
      }
    }
    await restartDead();
    log('faults stopped; settling');

    // Settle: every run (children too) final, or the settle time is up.
    const settleDeadline = Date.now() + options.settleMs;
    while (pending.size > 0 && Date.now() < settleDeadline) await Promise.race([...pending, sleep(500)]);
    for (;;) {
      const snapshot = await reader.read(orgId);
      const open = snapshot.runs.filter(
        (run) => !['completed', 'partial_complete', 'failed', 'cancelled'].includes(run.status),
      );
      if (open.length === 0 || Date.now() > settleDeadline) break;
      await sleep(1000);
    }
    rescuing = false;
    await rescuer;
    await Promise.race([Promise.allSettled([...pending]), sleep(10_000)]);

    const credits = await api.call('GET', '/v1/credits');
    const apiBalance = typeof credits.json?.balance === 'number' ? credits.json.balance : null;
    const snapshot = await reader.read(orgId);
    const result = checkInvariants({
      snapshot,
      workflows,
      started,
      requests: recorder.requests,
      overlaps: recorder.overlaps,
      publishes,
      pauses,
      deaths,
      apiBalance,
      leaseMs: BASE_LEASE_MS,
    });
    return {
      seed: options.seed,
      backend,
      workflows: workflows.size,
      runsStarted: started.length,
      childRuns: snapshot.runs.filter((run) => run.parent_run_id !== null).length,
      stepRequests: recorder.requests.length,
      eventsPublished: publishes.length,
      cancelsAccepted: started.filter((run) => run.cancelAcceptedAt !== null).length,
      faults,
      checked: result.checked,
      violations: result.violations,
      notes,
      elapsedMs: Date.now() - began,
    };
  } finally {
    await cluster.stop().catch(() => undefined);
    await reader?.close();
    await recorder.close();
  }
}

/** The report as printed: seed, counts, faults by kind, invariants checked, violations by invariant. */
export function formatReport(report: ChaosReport, examplesPerInvariant = 3): string {
  const lines = [
    `fault checker — backend ${report.backend}, seed ${report.seed} (replay: --seed ${report.seed} --backend ${report.backend})`,
    `  workflows generated: ${report.workflows}; runs started: ${report.runsStarted} (+${report.childRuns} sub-workflow runs); step requests: ${report.stepRequests}; events published: ${report.eventsPublished}; cancels accepted: ${report.cancelsAccepted}; ${Math.round(report.elapsedMs / 1000)} s`,
    `  faults injected: ${Object.entries(report.faults)
      .map(([kind, count]) => `${kind} ${count}`)
      .join(', ')} (total ${Object.values(report.faults).reduce((a, b) => a + b, 0)})`,
    `  invariants checked: ${Object.values(report.checked).reduce((a, b) => a + b, 0)} (${Object.entries(
      report.checked,
    )
      .map(([name, count]) => `${name} ${count}`)
      .join(', ')})`,
  ];
  const byInvariant = new Map<string, Violation[]>();
  for (const violation of report.violations) {
    const list = byInvariant.get(violation.invariant) ?? [];
    list.push(violation);
    byInvariant.set(violation.invariant, list);
  }
  lines.push(`  violations: ${report.violations.length}${report.violations.length === 0 ? '' : ' —'}`);
  for (const [invariant, list] of byInvariant) {
    lines.push(`    ${invariant} (${INVARIANTS[invariant as Invariant]}): ${list.length}`);
    for (const violation of list.slice(0, examplesPerInvariant))
      lines.push(`      e.g. ${violation.run ? `${violation.run}: ` : ''}${violation.detail}`);
  }
  for (const note of report.notes) lines.push(`  note: ${note}`);
  return lines.join('\n');
}
