import type {
  ApiKeyRecord,
  EventRecord,
  Org,
  RunEventInput,
  RunEventRecord,
  RunProgress,
  RunRecord,
  RunStepRecord,
  Site,
  WorkflowRecord,
} from '../../domain/model.js';
import { toStorableJsonText } from '../../domain/storable-json.js';

/** A value better-sqlite3 binds or returns. */
export type SqlValue = string | number | bigint | Buffer | null;

/**
 * How one record field is stored: as is, as INTEGER 0/1, or as JSON text. `json` columns
 * are NOT NULL (a null value is stored as the text `null`); `jsonOrNull` columns store
 * SQL NULL so `IS NULL` tests work on them.
 */
export type Codec = 'value' | 'bool' | 'json' | 'jsonOrNull';

/** One codec per field of `T`: the compiler fails when a record field has no column. */
export type Codecs<T> = { readonly [K in keyof T]-?: Codec };

export const ORG_CODECS: Codecs<Org> = {
  id: 'value',
  name: 'value',
  plan: 'value',
  credits_period: 'value',
  created_at: 'value',
};

export const SITE_CODECS: Codecs<Site> = { id: 'value', org_id: 'value', name: 'value', created_at: 'value' };

export const API_KEY_CODECS: Codecs<ApiKeyRecord> = {
  id: 'value',
  org_id: 'value',
  site_id: 'value',
  name: 'value',
  prefix: 'value',
  key_hash: 'value',
  scopes: 'json',
  created_at: 'value',
  revoked_at: 'value',
};

export const WORKFLOW_CODECS: Codecs<WorkflowRecord> = {
  id: 'value',
  org_id: 'value',
  slug: 'value',
  title: 'value',
  description: 'value',
  status: 'value',
  trigger_config: 'json',
  is_public: 'bool',
  credit_cost: 'value',
  callback_url: 'value',
  metadata: 'json',
  version: 'value',
  definition: 'json',
  generation: 'jsonOrNull',
  created_at: 'value',
  updated_at: 'value',
};

/** The columns a checkpoint rewrites, all of them. */
export const RUN_PROGRESS_CODECS: Codecs<RunProgress> = {
  status: 'value',
  step_index: 'value',
  current_step: 'value',
  attempt: 'value',
  iteration: 'value',
  step_passes: 'json',
  step_state: 'jsonOrNull',
  resume_payload: 'jsonOrNull',
  available_at: 'value',
  lease_owner: 'value',
  lease_expires_at: 'value',
  wait_event_type: 'value',
  wait_match: 'jsonOrNull',
  wait_run_id: 'value',
  has_failed_steps: 'bool',
  output: 'jsonOrNull',
  error: 'jsonOrNull',
  started_at: 'value',
  finished_at: 'value',
  deadline_at: 'value',
  updated_at: 'value',
};

export const RUN_CODECS: Codecs<RunRecord> = {
  ...RUN_PROGRESS_CODECS,
  id: 'value',
  org_id: 'value',
  site_id: 'value',
  workflow_id: 'value',
  workflow_version: 'value',
  input: 'json',
  total_steps: 'value',
  cancel_requested: 'bool',
  idempotency_key: 'value',
  parent_run_id: 'value',
  trigger: 'json',
  credits_reserved: 'value',
  credits_consumed: 'value',
  created_at: 'value',
  lease_epoch: 'value',
  priority: 'value',
  depth: 'value',
};

export const RUN_STEP_CODECS: Codecs<RunStepRecord> = {
  id: 'value',
  run_id: 'value',
  step_id: 'value',
  step_index: 'value',
  iteration: 'value',
  attempt: 'value',
  tool: 'value',
  status: 'value',
  input: 'json',
  output: 'jsonOrNull',
  error: 'jsonOrNull',
  started_at: 'value',
  finished_at: 'value',
};

export const RUN_EVENT_INPUT_CODECS: Codecs<RunEventInput> = {
  run_id: 'value',
  type: 'value',
  data: 'json',
  at: 'value',
};

export const RUN_EVENT_CODECS: Codecs<RunEventRecord> = { ...RUN_EVENT_INPUT_CODECS, seq: 'value' };

export const EVENT_CODECS: Codecs<EventRecord> = {
  id: 'value',
  org_id: 'value',
  type: 'value',
  data: 'json',
  created_at: 'value',
};

/**
 * JSON text for a nullable JSON column: SQL NULL for null and undefined. Lone surrogates
 * and NUL become U+FFFD, as PostgreSQL must store them, so both stores give back the same.
 */
export const jsonOrNull = (value: unknown): string | null =>
  value === null || value === undefined ? null : toStorableJsonText(value);

function encodeValue(value: unknown, codec: Codec): SqlValue {
  switch (codec) {
    case 'value':
      return (value ?? null) as SqlValue;
    case 'bool':
      return value ? 1 : 0;
    case 'json':
      return toStorableJsonText(value);
    case 'jsonOrNull':
      return jsonOrNull(value);
  }
}

function decodeValue(value: unknown, codec: Codec): unknown {
  switch (codec) {
    case 'value':
      return value;
    case 'bool':
      return value === 1;
    case 'json':
    case 'jsonOrNull':
      return typeof value === 'string' ? JSON.parse(value) : null;
  }
}

/** Named parameters (`@field`) for a record, keyed by column. */
export function encodeRecord<T>(record: T, codecs: Codecs<T>): Record<string, SqlValue> {
  const params: Record<string, SqlValue> = {};
  for (const key of Object.keys(codecs) as (keyof T & string)[]) {
    params[key] = encodeValue(record[key], codecs[key]);
  }
  return params;
}

/** Builds a record from a row; columns the record does not have (e.g. `deleted_at`) are dropped. */
export function decodeRow<T>(row: unknown, codecs: Codecs<T>): T {
  const source = row as Record<string, unknown>;
  const record: Record<string, unknown> = {};
  for (const key of Object.keys(codecs) as (keyof T & string)[]) {
    record[key] = decodeValue(source[key], codecs[key]);
  }
  return record as T;
}

/** `INSERT INTO table (cols…) VALUES (@cols…)` over every codec column. */
export function insertSql<T>(table: string, codecs: Codecs<T>): string {
  const columns = Object.keys(codecs);
  return `INSERT INTO ${table} (${columns.map((c) => `"${c}"`).join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`;
}

/** `"col" = @col, …` over every codec column. */
export function assignmentsSql<T>(codecs: Codecs<T>): string {
  return Object.keys(codecs)
    .map((c) => `"${c}" = @${c}`)
    .join(', ');
}
