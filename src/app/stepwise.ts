import { pino, type Logger } from 'pino';
import { LlmClient } from '../ai/llm-client.js';
import { LlmStepGenerator } from '../ai/workflow-generator.js';
import { systemClock, type Clock } from '../domain/clock.js';
import { DefinitionCache } from '../engine/definition-cache.js';
import {
  DEFAULT_DISPATCHER_CONFIG,
  DeliveryDispatcher,
  type DispatcherConfig,
} from '../engine/delivery-dispatcher.js';
import { ExpressionPool } from '../engine/expression-pool.js';
import { GenerationRunner } from '../engine/generation-runner.js';
import { Scheduler, type SchedulerConfig } from '../engine/scheduler.js';
import { Worker } from '../engine/worker.js';
import { ActionService } from '../services/action-service.js';
import { ensureDefaultOrg } from '../services/bootstrap.js';
import { DeliveryService } from '../services/delivery-service.js';
import { EventService } from '../services/event-service.js';
import { FailedAuthThrottle } from '../services/failed-auth-throttle.js';
import { GenerationService } from '../services/generation-service.js';
import { InstanceService } from '../services/instance-service.js';
import { KeyService } from '../services/key-service.js';
import { MarketplaceService } from '../services/marketplace-service.js';
import { CreditService } from '../services/credit-service.js';
import { PlanService } from '../services/plan-service.js';
import { RateLimitService } from '../services/rate-limit-service.js';
import { ReportService } from '../services/report-service.js';
import { RunService } from '../services/run-service.js';
import { ScheduleService } from '../services/schedule-service.js';
import { SecretBox } from '../services/secret-box.js';
import { SecretService } from '../services/secret-service.js';
import { WorkflowService } from '../services/workflow-service.js';
import { openStore } from '../store/open-store.js';
import { DatabaseClock } from './database-clock.js';
import type { Store } from '../store/store.js';
import { TEMPLATE_CATALOGUE } from '../templates/catalogue.js';
import { createDefaultToolRegistry, type ToolRegistry } from '../tools/registry.js';
import type { SubRunPort, ToolSettings } from '../tools/tool.js';
import type { StepwiseConfig } from './config.js';
import { resolveSecretKey } from './secret-key.js';

/** Everything one Stepwise process holds: the store, the services on top of it, and (optionally) a worker. */
export interface Stepwise {
  config: StepwiseConfig;
  store: Store;
  clock: Clock;
  logger: Logger;
  tools: ToolRegistry;
  /** The processes that evaluate user expressions, away from this process's event loop and heap. */
  expressions: ExpressionPool;
  workflows: WorkflowService;
  runs: RunService;
  events: EventService;
  /** Cron and one-off schedules; a workflow's scheduled trigger is kept in step automatically. */
  schedules: ScheduleService;
  secrets: SecretService;
  keys: KeyService;
  reports: ReportService;
  /** Plans of orgs and the run pre-flight checks. */
  plans: PlanService;
  /** Credit balance, ledger and grants per org. */
  credits: CreditService;
  /** Per-key rate limits: REST calls them per request, MCP per `tools/call`. */
  rateLimits: RateLimitService;
  /** Assistant instances (document 001), with smart renaming. */
  instances: InstanceService;
  /** Document 000's actions: a workflow run by its slug, for REST and MCP alike. */
  actions: ActionService;
  /** Run-result callbacks: signing secret, deliveries of a run. */
  deliveries: DeliveryService;
  /** The marketplace: shipped templates and published workflows; publish, explore, install. */
  marketplace: MarketplaceService;
  /** AI generation of workflow steps: create generating, regenerate, from a todo. */
  generations: GenerationService;
  defaultOrgId: string;
  defaultSiteId: string;
  /** Present once `startWorker()` was called. */
  worker: Worker | null;
  /** Present once `startWorker()` was called: plans the steps of generating workflows. */
  generationRunner: GenerationRunner | null;
  /** Starts the run worker and the generation runner. */
  startWorker(): Promise<Worker>;
  /** Present once `startDispatcher()` was called. */
  dispatcher: DeliveryDispatcher | null;
  /** Starts sending run-result callbacks; `overrides` serve tests that cannot wait 10 s for a retry. */
  startDispatcher(overrides?: Partial<DispatcherConfig>): Promise<DeliveryDispatcher>;
  /** Present once `startScheduler()` was called. */
  scheduler: Scheduler | null;
  /** Starts firing due schedules; `overrides` serve tests (a shorter tick, say). */
  startScheduler(overrides?: Partial<SchedulerConfig>): Scheduler;
  /**
   * Drains the worker (within the configured grace period), the dispatcher and the
   * scheduler, then ends the expression processes and closes the store.
   */
  close(): Promise<void>;
}

export interface StepwiseOptions {
  clock?: Clock;
  logger?: Logger;
  store?: Store;
}

/** Generations one process plans at once: each mostly waits on the LLM, and they are rare. */
const GENERATION_CONCURRENCY = 4;

/** Wires a Stepwise process together from its configuration. */
export async function createStepwise(
  config: StepwiseConfig,
  options: StepwiseOptions = {},
): Promise<Stepwise> {
  const logger = options.logger ?? pino({ level: config.logLevel, base: { pid: process.pid } });
  // A clock handed in (tests) is the one every decision uses; otherwise processes sharing
  // PostgreSQL all go by the database's clock.
  const store =
    options.store ??
    (await openStore(config.database, {
      sqliteSynchronous: config.sqliteSynchronous,
      timeSource: options.clock ? 'caller' : 'database',
    }));
  let databaseClock: DatabaseClock | null = null;
  try {
    if (!options.clock && store.timeSource === 'database') {
      databaseClock = await DatabaseClock.start(() => store.readDatabaseClock());
    }
    return await wireStepwise(config, store, logger, options.clock ?? databaseClock ?? systemClock, () =>
      databaseClock?.stop(),
    );
  } catch (error) {
    // A start that fails half way (the database went away) leaves no pool, listener or timer.
    databaseClock?.stop();
    if (!options.store) await store.close().catch(() => undefined);
    throw error;
  }
}

async function wireStepwise(
  config: StepwiseConfig,
  store: Store,
  logger: Logger,
  clock: Clock,
  stopClock: () => void,
): Promise<Stepwise> {
  const tools = createDefaultToolRegistry();
  const expressions = new ExpressionPool(config.expressions);
  const schedules = new ScheduleService(store, clock);
  const workflows = new WorkflowService(store, tools, clock, {
    saved: async (workflow) => void (await schedules.syncFromWorkflow(workflow)),
    deleted: async (orgId, workflowId) => {
      await schedules.workflowDeleted(orgId, workflowId);
      await marketplace.workflowDeleted(orgId, workflowId);
    },
  });
  const plans = new PlanService(store, clock, config.plans, config.defaultPlan);
  const runs = new RunService(store, workflows, clock, plans, config.fanOut);
  const events = new EventService(store, clock, runs);
  const box = new SecretBox(resolveSecretKey(config.secretKey, config.dataDir));
  const secrets = new SecretService(store, box, clock);
  const deliveries = new DeliveryService(store, box, clock);
  const failedAuth =
    config.authFailuresPerMinute > 0
      ? new FailedAuthThrottle(store, clock, config.authFailuresPerMinute)
      : undefined;
  const keys = new KeyService(store, clock, plans, failedAuth);
  const stopHearingRevocations = await store.listen({
    runsAvailable: () => undefined,
    cancelRequested: () => undefined,
    keysRevoked: () => keys.forgetAuthenticated(),
  });
  const marketplace = new MarketplaceService(store, workflows, tools, clock, TEMPLATE_CATALOGUE);
  const retiredTemplates = await marketplace.syncTemplates();
  if (retiredTemplates.length > 0)
    logger.info({ listing_ids: retiredTemplates }, 'hid the template listings no longer in the catalogue');
  const { org, site } = await ensureDefaultOrg(store, clock, plans.plan(config.defaultPlan));
  const toolSettings: ToolSettings = {
    allowPrivateNetwork: config.allowPrivateNetwork,
    llm: config.llm,
    smtpUrl: config.smtpUrl,
    emailFrom: config.emailFrom,
  };

  const subRuns = (orgId: string, parentRunId: string): SubRunPort => ({
    async start(workflow, input, idempotencyKey) {
      const { run } = await runs.start(orgId, workflow, {
        input,
        idempotency_key: idempotencyKey,
        parent_run_id: parentRunId,
        trigger: { type: 'workflow', parent_run_id: parentRunId },
      });
      return { id: run.id };
    },
    async get(runId) {
      const run = await store.getRun(orgId, runId);
      return run ? { status: run.status, output: run.output, error: run.error } : null;
    },
  });

  const instances = new InstanceService(store, clock, {
    llm: config.llm,
    onNamingFallback: (error) => logger.warn({ err: error }, 'instance naming fell back to keywords'),
  });

  const generations = new GenerationService(workflows, clock, config.llm ? 'llm' : 'catalogue', plans);

  const stepwise: Stepwise = {
    config,
    store,
    clock,
    logger,
    tools,
    expressions,
    workflows,
    runs,
    events,
    schedules,
    secrets,
    keys,
    reports: new ReportService(store, workflows, clock),
    instances,
    actions: new ActionService(workflows, runs, instances),
    deliveries,
    generations,
    marketplace,
    plans,
    credits: new CreditService(store, clock, plans),
    rateLimits: new RateLimitService(store, clock),
    defaultOrgId: org.id,
    defaultSiteId: site.id,
    worker: null,
    generationRunner: null,
    async startWorker() {
      if (stepwise.worker) return stepwise.worker;
      const worker = new Worker(
        {
          store,
          clock,
          definitions: new DefinitionCache(workflows),
          tools,
          secrets,
          subRuns,
          toolSettings,
          maxStepOutputBytes: config.maxStepOutputBytes,
          expressions,
          log: (level, message, data) => logger[level](data, message),
        },
        config.worker,
      );
      expressions.start();
      await worker.start();
      stepwise.worker = worker;
      // Kept across a worker stopped and started again: one runner per process.
      if (!stepwise.generationRunner) {
        const runner = new GenerationRunner(
          {
            store,
            clock,
            llm: config.llm ? new LlmStepGenerator(new LlmClient(config.llm), tools) : null,
            catalogue: TEMPLATE_CATALOGUE,
            finish: (owner, current, outcome) => workflows.finishGeneration(owner, current, outcome),
            log: (level, message, data) => logger[level](data, message),
          },
          {
            concurrency: GENERATION_CONCURRENCY,
            leaseMs: config.worker.leaseMs,
            pollMs: config.worker.pollMs,
          },
        );
        await runner.start();
        stepwise.generationRunner = runner;
      }
      return worker;
    },
    dispatcher: null,
    async startDispatcher(overrides = {}) {
      if (stepwise.dispatcher) return stepwise.dispatcher;
      const dispatcher = new DeliveryDispatcher(
        {
          store,
          clock,
          signingSecret: (orgId) => deliveries.getSigningSecret(orgId),
          allowPrivateNetwork: config.allowPrivateNetwork,
          log: (level, message, data) => logger[level](data, message),
        },
        { ...DEFAULT_DISPATCHER_CONFIG, pollMs: config.worker.pollMs, ...overrides },
      );
      await dispatcher.start();
      stepwise.dispatcher = dispatcher;
      return dispatcher;
    },
    scheduler: null,
    startScheduler(overrides = {}) {
      if (stepwise.scheduler) return stepwise.scheduler;
      const scheduler = new Scheduler(
        { store, clock, runs, log: (level, message, data) => logger[level](data, message) },
        overrides,
      );
      scheduler.start();
      stepwise.scheduler = scheduler;
      return scheduler;
    },
    async close() {
      await Promise.all([
        stepwise.worker?.stop(config.worker.shutdownGraceMs),
        stepwise.generationRunner?.stop(),
        stepwise.dispatcher?.stop(),
        stepwise.scheduler?.stop(),
      ]);
      await expressions.close();
      await stopHearingRevocations();
      stopClock();
      await store.close();
    },
  };
  return stepwise;
}
