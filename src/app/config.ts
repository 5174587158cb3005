import path from 'node:path';
import { z } from 'zod';
import { configError } from '../domain/errors.js';
import { DEFAULT_EXPRESSION_TIMEOUT_MS } from '../domain/expression.js';
import { plansOverrideSchema, resolvePlans, type Plan } from '../domain/plan.js';

const flag = z
  .enum(['0', '1', 'true', 'false', 'yes', 'no', ''])
  .transform((value) => value === '1' || value === 'true' || value === 'yes');

const intIn = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const environmentSchema = z.object({
  STEPWISE_DATA_DIR: z.string().min(1).default('./data'),
  STEPWISE_DATABASE_URL: z
    .string()
    .regex(/^(postgres(ql)?:\/\/|sqlite:).+/, 'must start with postgres://, postgresql:// or sqlite:')
    .optional(),
  PORT: intIn(0, 65_535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  STEPWISE_WORKER_CONCURRENCY: intIn(1, 1000).default(16),
  STEPWISE_LEASE_MS: intIn(1000, 3_600_000).default(30_000),
  STEPWISE_POLL_MS: intIn(10, 60_000).default(1000),
  STEPWISE_SHUTDOWN_GRACE_MS: intIn(0, 600_000).default(10_000),
  STEPWISE_MAX_SUB_WORKFLOW_DEPTH: intIn(0, 100).default(10),
  STEPWISE_MAX_CHILD_RUNS: intIn(0, 1_000_000).default(1000),
  STEPWISE_SQLITE_SYNCHRONOUS: z.enum(['FULL', 'NORMAL']).default('FULL'),
  STEPWISE_ALLOW_PRIVATE_NETWORK: flag.default(false),
  STEPWISE_METRICS_PUBLIC: flag.default(false),
  STEPWISE_EXPRESSION_PROCESSES: intIn(1, 64).default(2),
  STEPWISE_EXPRESSION_TIMEOUT_MS: intIn(10, 60_000).default(DEFAULT_EXPRESSION_TIMEOUT_MS),
  STEPWISE_EXPRESSION_MEMORY_MB: intIn(16, 4096).default(128),
  STEPWISE_MAX_STEP_OUTPUT_BYTES: intIn(1024, 67_108_864).default(1_048_576),
  STEPWISE_SECRET_KEY: z
    .string()
    .regex(/^[A-Za-z0-9+/=_-]{43,88}$/, 'must be 32 random bytes, base64 or hex encoded')
    .optional(),
  STEPWISE_AUTH_FAILURES_PER_MINUTE: intIn(0, 1_000_000).default(20),
  STEPWISE_BOOTSTRAP_KEY: z.string().min(24, 'must be at least 24 characters').max(256).optional(),
  LLM_BASE_URL: z.url('must be a URL such as http://localhost:11434/v1').optional(),
  LLM_API_KEY: z.string().optional(),
  LLM_MODEL: z.string().min(1).default('gpt-4o-mini'),
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, 'must start with smtp:// or smtps://')
    .optional(),
  STEPWISE_EMAIL_FROM: z.string().min(3).default('Stepwise <stepwise@localhost>'),
  STEPWISE_PLANS: z.string().optional(),
  STEPWISE_DEFAULT_PLAN: z
    .string()
    .regex(/^[a-z0-9_-]{1,50}$/, 'must be a plan name such as free, pro, enterprise or unlimited')
    .default('free'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/**
 * The settings whose rejected value a startup error repeats, to show a typo. Every other
 * one (the keys, and the URLs that may carry a password: STEPWISE_DATABASE_URL, SMTP_URL,
 * LLM_BASE_URL) is named without its value, since startup errors end up in logs; a setting
 * added later stays unrepeated until it is listed here.
 */
const ECHOED_SETTINGS: ReadonlySet<string> = new Set([
  'STEPWISE_DATA_DIR',
  'PORT',
  'HOST',
  'STEPWISE_WORKER_CONCURRENCY',
  'STEPWISE_LEASE_MS',
  'STEPWISE_POLL_MS',
  'STEPWISE_SHUTDOWN_GRACE_MS',
  'STEPWISE_SQLITE_SYNCHRONOUS',
  'STEPWISE_ALLOW_PRIVATE_NETWORK',
  'STEPWISE_METRICS_PUBLIC',
  'STEPWISE_AUTH_FAILURES_PER_MINUTE',
  'STEPWISE_EXPRESSION_PROCESSES',
  'STEPWISE_EXPRESSION_TIMEOUT_MS',
  'STEPWISE_EXPRESSION_MEMORY_MB',
  'STEPWISE_MAX_STEP_OUTPUT_BYTES',
  'LLM_MODEL',
  'STEPWISE_EMAIL_FROM',
  'STEPWISE_DEFAULT_PLAN',
  'LOG_LEVEL',
]);

export type DatabaseTarget = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

export interface StepwiseConfig {
  dataDir: string;
  database: DatabaseTarget;
  port: number;
  host: string;
  worker: { concurrency: number; leaseMs: number; pollMs: number; shutdownGraceMs: number };
  /**
   * Bounds on sub-workflows: how deeply runs may nest (a run started from outside is depth
   * 0) and how many runs one run may start, over its whole life.
   */
  fanOut: { maxDepth: number; maxChildRuns: number };
  sqliteSynchronous: 'FULL' | 'NORMAL';
  allowPrivateNetwork: boolean;
  /** STEPWISE_METRICS_PUBLIC=1: /metrics answers without a key. */
  metricsPublic: boolean;
  /** The processes that evaluate user expressions (JSONata), and the bounds of one evaluation. */
  expressions: { processes: number; timeoutMs: number; memoryMb: number };
  /** The largest output one step may produce, in bytes of JSON (STEPWISE_MAX_STEP_OUTPUT_BYTES). */
  maxStepOutputBytes: number;
  secretKey: string | null;
  /** Requests with an invalid key one client address may make per minute before 429s; 0: unlimited. */
  authFailuresPerMinute: number;
  /** The operator key created on the first start of an empty database, instead of a random one. */
  bootstrapKey: string | null;
  llm: { baseUrl: string; apiKey: string | null; model: string } | null;
  smtpUrl: string | null;
  emailFrom: string;
  logLevel: string;
  /** Plan name → plan: the built-in plans with `STEPWISE_PLANS` applied. */
  plans: Record<string, Plan>;
  /** The plan of orgs created without one (`STEPWISE_DEFAULT_PLAN`). */
  defaultPlan: string;
}

/** `STEPWISE_PLANS`: JSON of plan name → fields overriding (or defining) that plan. */
function parsePlans(raw: string | undefined): Record<string, Plan> {
  if (raw === undefined) return resolvePlans();
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw configError(
      'STEPWISE_PLANS',
      'must be JSON such as {"free":{"max_concurrent_runs":2,"monthly_credits":50}}',
    );
  }
  const parsed = plansOverrideSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw configError('STEPWISE_PLANS', `${issue.path.join('.') || 'value'}: ${issue.message}`);
  }
  return resolvePlans(parsed.data);
}

/**
 * Reads and checks the configuration from the environment.
 * @throws StepwiseError `CONFIG_INVALID` naming the variable and what it accepts.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): StepwiseConfig {
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = environmentSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    const shown = ECHOED_SETTINGS.has(variable)
      ? `got '${String(env[variable])}'`
      : 'its value is not shown, as it may hold a secret';
    throw configError(variable, `${issue.message} (${shown})`);
  }
  const e = parsed.data;
  const plans = parsePlans(e.STEPWISE_PLANS);
  if (!plans[e.STEPWISE_DEFAULT_PLAN]) {
    throw configError(
      'STEPWISE_DEFAULT_PLAN',
      `'${e.STEPWISE_DEFAULT_PLAN}' is not a plan; use one of ${Object.keys(plans).join(', ')} or define it in STEPWISE_PLANS`,
    );
  }
  const dataDir = path.resolve(e.STEPWISE_DATA_DIR);
  let database: DatabaseTarget = { kind: 'sqlite', path: path.join(dataDir, 'stepwise.db') };
  if (e.STEPWISE_DATABASE_URL?.startsWith('sqlite:')) {
    database = { kind: 'sqlite', path: path.resolve(e.STEPWISE_DATABASE_URL.slice('sqlite:'.length)) };
  } else if (e.STEPWISE_DATABASE_URL) {
    database = { kind: 'postgres', url: e.STEPWISE_DATABASE_URL };
  }
  return {
    dataDir,
    database,
    port: e.PORT,
    host: e.HOST,
    worker: {
      concurrency: e.STEPWISE_WORKER_CONCURRENCY,
      leaseMs: e.STEPWISE_LEASE_MS,
      pollMs: e.STEPWISE_POLL_MS,
      shutdownGraceMs: e.STEPWISE_SHUTDOWN_GRACE_MS,
    },
    fanOut: { maxDepth: e.STEPWISE_MAX_SUB_WORKFLOW_DEPTH, maxChildRuns: e.STEPWISE_MAX_CHILD_RUNS },
    sqliteSynchronous: e.STEPWISE_SQLITE_SYNCHRONOUS,
    allowPrivateNetwork: e.STEPWISE_ALLOW_PRIVATE_NETWORK,
    metricsPublic: e.STEPWISE_METRICS_PUBLIC,
    expressions: {
      processes: e.STEPWISE_EXPRESSION_PROCESSES,
      timeoutMs: e.STEPWISE_EXPRESSION_TIMEOUT_MS,
      memoryMb: e.STEPWISE_EXPRESSION_MEMORY_MB,
    },
    maxStepOutputBytes: e.STEPWISE_MAX_STEP_OUTPUT_BYTES,
    secretKey: e.STEPWISE_SECRET_KEY ?? null,
    authFailuresPerMinute: e.STEPWISE_AUTH_FAILURES_PER_MINUTE,
    bootstrapKey: e.STEPWISE_BOOTSTRAP_KEY ?? null,
    llm: e.LLM_BASE_URL
      ? { baseUrl: e.LLM_BASE_URL, apiKey: e.LLM_API_KEY ?? null, model: e.LLM_MODEL }
      : null,
    smtpUrl: e.SMTP_URL ?? null,
    emailFrom: e.STEPWISE_EMAIL_FROM,
    logLevel: e.LOG_LEVEL,
    plans,
    defaultPlan: e.STEPWISE_DEFAULT_PLAN,
  };
}
