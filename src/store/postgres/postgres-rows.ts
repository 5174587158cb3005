import type pg from 'pg';
import type {
  ApiKeyRecord,
  EventRecord,
  Org,
  RunEventRecord,
  RunProgress,
  RunRecord,
  RunStepRecord,
  Site,
  WorkflowRecord,
} from '../../domain/model.js';
import { toStorableJsonText } from '../../domain/storable-json.js';

/** A pool or a checked-out client: query functions run on either, inside or outside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'>;

/**
 * Checks at compile time that `columns` names every field of `T`, so a field added to a
 * record type without a column here fails the build instead of reading back undefined.
 */
const allColumns =
  <T>() =>
  <const C extends readonly (keyof T & string)[]>(
    columns: C &
      ([Exclude<keyof T, C[number]>] extends [never] ? unknown : { missing: Exclude<keyof T, C[number]> }),
  ): C =>
    columns;

const ORG_COLUMNS = allColumns<Org>()(['id', 'name', 'plan', 'credits_period', 'created_at']);
const SITE_COLUMNS = allColumns<Site>()(['id', 'org_id', 'name', 'created_at']);
const API_KEY_COLUMNS = allColumns<ApiKeyRecord>()([
  'id',
  'org_id',
  'site_id',
  'name',
  'prefix',
  'key_hash',
  'scopes',
  'created_at',
  'revoked_at',
]);

/** The workflow columns in insert order. */
export const WORKFLOW_COLUMNS = allColumns<WorkflowRecord>()([
  'id',
  'org_id',
  'slug',
  'title',
  'description',
  'status',
  'trigger_config',
  'is_public',
  'credit_cost',
  'callback_url',
  'metadata',
  'version',
  'definition',
  'generation',
  'created_at',
  'updated_at',
]);

/** The progress columns a checkpoint rewrites, with their SQL types for `jsonb_to_recordset`. */
export const PROGRESS_COLUMN_TYPES = {
  status: 'text',
  step_index: 'integer',
  current_step: 'integer',
  attempt: 'integer',
  iteration: 'integer',
  step_passes: 'jsonb',
  step_state: 'jsonb',
  resume_payload: 'jsonb',
  available_at: 'bigint',
  lease_owner: 'text',
  lease_expires_at: 'bigint',
  wait_event_type: 'text',
  wait_match: 'jsonb',
  wait_run_id: 'text',
  has_failed_steps: 'boolean',
  output: 'jsonb',
  error: 'jsonb',
  started_at: 'bigint',
  finished_at: 'bigint',
  deadline_at: 'bigint',
  updated_at: 'bigint',
} as const satisfies Record<keyof RunProgress, string>;

/** The run columns in insert order. */
export const RUN_COLUMNS = allColumns<RunRecord>()([
  'id',
  'org_id',
  'site_id',
  'workflow_id',
  'workflow_version',
  'input',
  'total_steps',
  'cancel_requested',
  'idempotency_key',
  'parent_run_id',
  'trigger',
  'credits_reserved',
  'credits_consumed',
  'created_at',
  'lease_epoch',
  'priority',
  'depth',
  ...(Object.keys(PROGRESS_COLUMN_TYPES) as (keyof RunProgress)[]),
]);

const STEP_COLUMNS = allColumns<RunStepRecord>()([
  'id',
  'run_id',
  'step_id',
  'step_index',
  'iteration',
  'attempt',
  'tool',
  'status',
  'input',
  'output',
  'error',
  'started_at',
  'finished_at',
]);

const RUN_EVENT_COLUMNS = allColumns<RunEventRecord>()(['seq', 'run_id', 'type', 'data', 'at']);
const EVENT_COLUMNS = allColumns<EventRecord>()(['id', 'org_id', 'type', 'data', 'created_at']);

// JSONB columns by nullability: in a nullable one, null and undefined are SQL NULL; in
// the others they are the JSON value null.
const NULLABLE_JSON_COLUMNS = new Set<string>([
  'output',
  'error',
  'step_state',
  'resume_payload',
  'wait_match',
  'generation',
]);
const JSON_COLUMNS = new Set<string>([
  ...NULLABLE_JSON_COLUMNS,
  'scopes',
  'trigger_config',
  'metadata',
  'definition',
  'input',
  'trigger',
  'data',
]);

/**
 * Serialises a value for a JSONB parameter. JSONB refuses lone surrogates and NUL, and one
 * such string would fail the whole statement (a group commit of many runs, a route's
 * insert), so they are stored as U+FFFD, as on SQLite (see `toStorableJsonText`).
 */
export function toJson(value: unknown): string {
  return toStorableJsonText(value);
}

/** The parameter for `column`: JSON columns serialised, others as they are. */
export function toParam(column: string, value: unknown): unknown {
  if (!JSON_COLUMNS.has(column)) return value ?? null;
  return NULLABLE_JSON_COLUMNS.has(column) && (value === null || value === undefined) ? null : toJson(value);
}

/** Epoch milliseconds on the database server's clock, read when the statement needs it. */
export const DATABASE_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/**
 * The instant a statement decides with: parameter `param`, or the database's clock when
 * the store passed null for it (`timeSource: 'database'`).
 */
export const nowOr = (param: string): string => `COALESCE(${param}::bigint, ${DATABASE_NOW_MS})`;

/**
 * Takes transaction-scoped advisory locks named by `names`, in the order of their hashes,
 * so two transactions that need some of the same ones never wait for each other in a cycle.
 */
export async function lockNames(db: Queryable, names: string[]): Promise<void> {
  await db.query(
    `SELECT count(*) FROM (
      SELECT pg_advisory_xact_lock(h) FROM (
        SELECT DISTINCT hashtextextended(name, 0) AS h FROM unnest($1::text[]) AS name ORDER BY 1
      ) AS ordered
    ) AS locked`,
    [names],
  );
}

/** `$1, $2, …, $count`. */
export const placeholders = (count: number): string =>
  Array.from({ length: count }, (_, i) => `$${i + 1}`).join(', ');

/** A quoted column list, e.g. for `SELECT` and `RETURNING`; `trigger` is a keyword. */
export const columnList = (columns: readonly string[], table?: string): string =>
  columns.map((column) => (table ? `${table}."${column}"` : `"${column}"`)).join(', ');

// The pool parses BIGINT to numbers and JSONB to values, so mapping only picks columns
// (dropping extras such as deleted_at) and turns SQL NULL into null.
function pick<T>(row: Record<string, unknown>, columns: readonly string[]): T {
  const record: Record<string, unknown> = {};
  for (const column of columns) record[column] = row[column] ?? null;
  return record as T;
}

/** Row mappers, one per record type: `fromRow.run(row)` is the `RunRecord` of a `runs` row. */
export const fromRow = {
  org: (row: Record<string, unknown>): Org => pick(row, ORG_COLUMNS),
  site: (row: Record<string, unknown>): Site => pick(row, SITE_COLUMNS),
  apiKey: (row: Record<string, unknown>): ApiKeyRecord => pick(row, API_KEY_COLUMNS),
  workflow: (row: Record<string, unknown>): WorkflowRecord => pick(row, WORKFLOW_COLUMNS),
  run: (row: Record<string, unknown>): RunRecord => pick(row, RUN_COLUMNS),
  runStep: (row: Record<string, unknown>): RunStepRecord => pick(row, STEP_COLUMNS),
  runEvent: (row: Record<string, unknown>): RunEventRecord => pick(row, RUN_EVENT_COLUMNS),
};

/** Column lists for SELECT and RETURNING clauses. */
export const SQL_COLUMNS = {
  org: columnList(ORG_COLUMNS),
  site: columnList(SITE_COLUMNS),
  apiKey: columnList(API_KEY_COLUMNS),
  workflow: columnList(WORKFLOW_COLUMNS),
  run: columnList(RUN_COLUMNS),
  step: columnList(STEP_COLUMNS),
  runEvent: columnList(RUN_EVENT_COLUMNS),
  event: columnList(EVENT_COLUMNS),
};

/** Runs a function in a transaction on a dedicated client, rolling back when it throws. */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // The pool stops listening to a client's errors while it is checked out; a connection
  // terminated between two statements (an admin's pg_terminate_backend, a failover) would
  // then be an uncaught 'error' that kills the process. The next statement fails instead.
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    // A client whose rollback fails is in an unknown state: destroy it rather than pool it.
    await client.query('ROLLBACK').catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    throw error;
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}
