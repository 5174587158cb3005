import { pino, type Logger } from 'pino';
import { systemClock, type Clock } from '../domain/clock.js';
import { DefinitionCache } from '../engine/definition-cache.js';
import { Worker } from '../engine/worker.js';
import { ensureDefaultOrg } from '../services/bootstrap.js';
import { EventService } from '../services/event-service.js';
import { KeyService } from '../services/key-service.js';
import { RunService } from '../services/run-service.js';
import { SecretBox } from '../services/secret-box.js';
import { SecretService } from '../services/secret-service.js';
import { WorkflowService } from '../services/workflow-service.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
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
  workflows: WorkflowService;
  runs: RunService;
  events: EventService;
  secrets: SecretService;
  keys: KeyService;
  defaultOrgId: string;
  defaultSiteId: string;
  /** Present once `startWorker()` was called. */
  worker: Worker | null;
  startWorker(): Promise<Worker>;
  /** Drains the worker (within the configured grace period) and closes the store. */
  close(): Promise<void>;
}

export interface StepwiseOptions {
  clock?: Clock;
  logger?: Logger;
  store?: Store;
}

/** Wires a Stepwise process together from its configuration. */
export async function createStepwise(
  config: StepwiseConfig,
  options: StepwiseOptions = {},
): Promise<Stepwise> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? pino({ level: config.logLevel, base: { pid: process.pid } });
  const store =
    options.store ?? (await openStore(config.database, { sqliteSynchronous: config.sqliteSynchronous }));
  const tools = createDefaultToolRegistry();
  const workflows = new WorkflowService(store, tools, clock);
  const runs = new RunService(store, workflows, clock);
  const events = new EventService(store, clock);
  const secrets = new SecretService(
    store,
    new SecretBox(resolveSecretKey(config.secretKey, config.dataDir)),
    clock,
  );
  const keys = new KeyService(store, clock);
  const { org, site } = await ensureDefaultOrg(store, clock);
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

  const stepwise: Stepwise = {
    config,
    store,
    clock,
    logger,
    tools,
    workflows,
    runs,
    events,
    secrets,
    keys,
    defaultOrgId: org.id,
    defaultSiteId: site.id,
    worker: null,
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
          log: (level, message, data) => logger[level](data, message),
        },
        config.worker,
      );
      await worker.start();
      stepwise.worker = worker;
      return worker;
    },
    async close() {
      await stepwise.worker?.stop(config.worker.shutdownGraceMs);
      await store.close();
    },
  };
  return stepwise;
}
