#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { bootstrapAdminKey } from '../app/bootstrap-key.js';
import { loadConfig, type StepwiseConfig } from '../app/config.js';
import { createStepwise, type Stepwise } from '../app/stepwise.js';
import { StepwiseError } from '../domain/errors.js';
import { isConnectionLost, openStore } from '../store/open-store.js';
import { runCreditsCommand } from './credits-command.js';
import { runKeysCommand } from './keys-command.js';
import { runWorkflowFile } from './run-command.js';

const USAGE = `usage: stepwise <command>

  serve                 REST API, workers and scheduler in one process (npm start)
  worker                workers only (scale out on PostgreSQL)
  scheduler             the scheduler only: fires cron and one-off schedules (any number
                        of them on one PostgreSQL; each slot fires once)
  migrate               bring the database schema up to date
  keys create --org NAME --scopes a,b [--site NAME] [--json]
  keys list [--json]
  keys revoke ID
                        manage API keys of every org (scopes: workflows:read,
                        workflows:write, instances:read, instances:write, events:write,
                        metrics:read, org_admin: its own org's keys; operator: every org,
                        plans, credits)
  credits grant --org NAME N [--reason TEXT]
  credits balance --org NAME [--json]
                        add credits to an org; show its balance and recent ledger
  mcp [--worker]        the MCP tools over stdio for the key in STEPWISE_API_KEY
                        (--worker also executes runs in this process)
  run <workflow.json> [--input JSON] [--wait]
                        save the file as a workflow, start a run; --wait runs it here,
                        printing each step, and exits 1 when the run fails

configuration comes from the environment; see README.md`;

const out = (line: string) => process.stdout.write(`${line}\n`);

/** Stops cleanly on SIGTERM/SIGINT: no new claims, in-flight steps get the grace period. */
function stopOnSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stderr.write(`${signal}: draining…\n`);
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`error while stopping: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

async function serve(stepwise: Stepwise): Promise<void> {
  await bootstrapAdminKey(stepwise.keys, {
    dataDir: stepwise.config.dataDir,
    presetKey: stepwise.config.bootstrapKey,
    print: out,
  });
  // Loaded here, not at the top: the HTTP stack is most of the start-up time of the other commands.
  const { buildServer } = await import('../api/server.js');
  const server = await buildServer(stepwise);
  // From here on SIGTERM drains, even while the rest is still starting.
  stopOnSignals(async () => {
    await server.close();
    await stepwise.close();
  });
  // Listen before claiming anything: a port in use must not leave runs leased by a process
  // that exits at once (they would wait out the lease before another worker resumes them).
  await server.listen({ port: stepwise.config.port, host: stepwise.config.host });
  await stepwise.startWorker();
  await stepwise.startDispatcher();
  stepwise.startScheduler();
}

function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        input: { type: 'string' },
        wait: { type: 'boolean', default: false },
        worker: { type: 'boolean', default: false },
        org: { type: 'string' },
        site: { type: 'string' },
        scopes: { type: 'string' },
        name: { type: 'string' },
        reason: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    // An unknown or malformed option is a usage mistake (exit 2, one line), not a crash.
    throw new StepwiseError('USAGE', 400, `${(error as Error).message} (see stepwise --help)`);
  }
}

/** How long a long-running process keeps trying to start while its database is unreachable. */
const START_RETRY_FOR_MS = 60_000;

/**
 * Starts a long-running process (serve, worker, scheduler), trying again with backoff while
 * the database connection is lost or not there yet, as when processes start before
 * PostgreSQL or a connection is terminated during the start. Any other error ends the start.
 */
async function startWhenDatabaseAnswers(config: StepwiseConfig): Promise<Stepwise> {
  const giveUpAt = Date.now() + START_RETRY_FOR_MS;
  for (let delayMs = 250; ; delayMs = Math.min(delayMs * 2, 5000)) {
    try {
      return await createStepwise(config);
    } catch (error) {
      if (!isConnectionLost(error) || Date.now() + delayMs > giveUpAt) throw error;
      process.stderr.write(
        `the database connection was lost while starting (${(error as Error).message}); trying again in ${delayMs} ms\n`,
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseCommandLine(argv);
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    out(USAGE);
    return command || values.help ? 0 : 2;
  }
  const config = loadConfig();
  switch (command) {
    case 'migrate': {
      const store = await openStore(config.database, { sqliteSynchronous: config.sqliteSynchronous });
      await store.close();
      out(`schema up to date (${config.database.kind})`);
      return 0;
    }
    case 'serve': {
      await serve(await startWhenDatabaseAnswers(config));
      return -1;
    }
    case 'worker': {
      const stepwise = await startWhenDatabaseAnswers(config);
      // Before the first claim: a SIGTERM must drain even a run claimed while still starting.
      stopOnSignals(() => stepwise.close());
      await stepwise.startWorker();
      await stepwise.startDispatcher();
      stepwise.logger.info(
        { owner: stepwise.worker?.owner, concurrency: config.worker.concurrency },
        'worker started',
      );
      return -1;
    }
    case 'scheduler': {
      const stepwise = await startWhenDatabaseAnswers(config);
      const scheduler = stepwise.startScheduler();
      stepwise.logger.info({ owner: scheduler.owner }, 'scheduler started');
      stopOnSignals(() => stepwise.close());
      return -1;
    }
    case 'mcp': {
      // Loaded here: only this command needs the MCP SDK. Logs go to stderr, stdout is JSON-RPC.
      const { runMcpOverStdio } = await import('../mcp/stdio-server.js');
      return runMcpOverStdio(config, { apiKey: process.env.STEPWISE_API_KEY, worker: values.worker });
    }
    case 'run': {
      const file = rest[0];
      if (!file) {
        out(USAGE);
        return 2;
      }
      const stepwise = await createStepwise({ ...config, logLevel: process.env.LOG_LEVEL ?? 'warn' });
      try {
        return await runWorkflowFile(stepwise, {
          file,
          input: values.input,
          wait: values.wait ?? false,
          out,
        });
      } finally {
        await stepwise.close();
      }
    }
    case 'credits': {
      const stepwise = await createStepwise({ ...config, logLevel: 'warn' });
      try {
        return await runCreditsCommand(stepwise, rest, values, out);
      } finally {
        await stepwise.close();
      }
    }
    case 'keys': {
      const stepwise = await createStepwise({ ...config, logLevel: 'warn' });
      try {
        return await runKeysCommand(stepwise.keys, rest, values, out);
      } finally {
        await stepwise.close();
      }
    }
    default:
      process.stderr.write(`unknown command '${command}'\n\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    if (error instanceof StepwiseError) {
      process.stderr.write(`error: ${error.message}\n`);
      process.exit(error.status >= 500 && error.code !== 'CONFIG_INVALID' ? 1 : 2);
    }
    // A system error (a port in use, a data dir that cannot be written) says all in its message.
    const systemError =
      error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === 'string';
    process.stderr.write(
      `error: ${error instanceof Error ? (systemError ? error.message : (error.stack ?? error.message)) : String(error)}\n`,
    );
    process.exit(1);
  },
);
