import Database from 'better-sqlite3';
import pg from 'pg';

export interface RunRow {
  id: string;
  org_id: string;
  workflow_id: string;
  status: string;
  input: Record<string, unknown>;
  parent_run_id: string | null;
  wait_event_type: string | null;
  credits_reserved: number;
  created_at: number;
  finished_at: number | null;
}

export interface StepRow {
  id: string;
  run_id: string;
  step_id: string;
  step_index: number;
  attempt: number;
  tool: string;
  status: string;
  output: unknown;
  started_at: number;
  finished_at: number;
}

export interface TimelineRow {
  seq: number;
  run_id: string;
  type: string;
  data: Record<string, unknown>;
  at: number;
}

export interface EventRow {
  id: string;
  type: string;
  data: Record<string, unknown>;
  created_at: number;
}

export interface LedgerRow {
  run_id: string | null;
  kind: string;
  amount: number;
}

/** The stored rows of one org that the invariants read. */
export interface Snapshot {
  runs: RunRow[];
  steps: StepRow[];
  timeline: TimelineRow[];
  events: EventRow[];
  ledger: LedgerRow[];
  workflows: { id: string; slug: string }[];
}

const QUERIES = {
  runs: `SELECT id, org_id, workflow_id, status, input, parent_run_id, wait_event_type, credits_reserved, created_at, finished_at
         FROM runs WHERE org_id = $org`,
  steps: `SELECT s.id, s.run_id, s.step_id, s.step_index, s.attempt, s.tool, s.status, s.output, s.started_at, s.finished_at
          FROM run_steps s JOIN runs r ON r.id = s.run_id WHERE r.org_id = $org`,
  timeline: `SELECT e.seq, e.run_id, e.type, e.data, e.at FROM run_events e JOIN runs r ON r.id = e.run_id
             WHERE r.org_id = $org ORDER BY e.seq`,
  events: `SELECT id, type, data, created_at FROM events WHERE org_id = $org`,
  ledger: `SELECT run_id, kind, amount FROM credit_ledger WHERE org_id = $org`,
  workflows: `SELECT id, slug FROM workflows WHERE org_id = $org`,
} as const;

const JSON_COLUMNS = new Set(['input', 'output', 'data', 'wait_match']);
const NUMBER_COLUMNS = new Set([
  'seq',
  'step_index',
  'attempt',
  'credits_reserved',
  'created_at',
  'finished_at',
  'started_at',
  'at',
  'amount',
]);

function normalise<T>(rows: Record<string, unknown>[]): T[] {
  return rows.map((row) => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(row)) {
      if (JSON_COLUMNS.has(key) && typeof value === 'string') out[key] = JSON.parse(value) as unknown;
      else if (NUMBER_COLUMNS.has(key) && value !== null && value !== undefined) out[key] = Number(value);
      else out[key] = value;
    }
    return out as T;
  });
}

/** Reads the org's rows straight from the database the processes share (SQL, both backends). */
export interface SnapshotReader {
  orgId(name: string): Promise<string | null>;
  read(orgId: string): Promise<Snapshot>;
  /** Ids of runs of the org parked waiting for an event. */
  waitingRuns(orgId: string): Promise<{ id: string; wait_match: unknown }[]>;
  close(): Promise<void>;
}

export function sqliteReader(file: string): SnapshotReader {
  const open = () => {
    const db = new Database(file, { fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    return db;
  };
  const all = <T>(sql: string, orgId: string): T[] => {
    const db = open();
    try {
      return normalise<T>(
        db.prepare(sql.replaceAll('$org', '@org')).all({ org: orgId }) as Record<string, unknown>[],
      );
    } finally {
      db.close();
    }
  };
  return {
    async orgId(name) {
      const db = open();
      try {
        const row = db.prepare('SELECT id FROM orgs WHERE name = ?').get(name) as { id: string } | undefined;
        return row?.id ?? null;
      } finally {
        db.close();
      }
    },
    async read(orgId) {
      return {
        runs: all<RunRow>(QUERIES.runs, orgId),
        steps: all<StepRow>(QUERIES.steps, orgId),
        timeline: all<TimelineRow>(QUERIES.timeline, orgId),
        events: all<EventRow>(QUERIES.events, orgId),
        ledger: all<LedgerRow>(QUERIES.ledger, orgId),
        workflows: all<{ id: string; slug: string }>(QUERIES.workflows, orgId),
      };
    },
    async waitingRuns(orgId) {
      return all<{ id: string; wait_match: unknown }>(
        `SELECT id, wait_match FROM runs WHERE org_id = $org AND wait_event_type IS NOT NULL AND status IN ('pending','running')`,
        orgId,
      );
    },
    async close() {},
  };
}

export function postgresReader(url: string): SnapshotReader {
  // A fresh client per read: the fault injector terminates this database's connections.
  const query = async <T>(sql: string, params: unknown[]): Promise<T[]> => {
    for (let attempt = 1; ; attempt += 1) {
      const client = new pg.Client({ connectionString: url });
      client.on('error', () => undefined);
      try {
        await client.connect();
        const result = await client.query(sql.replaceAll('$org', '$1'), params);
        return normalise<T>(result.rows as Record<string, unknown>[]);
      } catch (error) {
        if (attempt >= 5) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  };
  return {
    async orgId(name) {
      const rows = await query<{ id: string }>('SELECT id FROM orgs WHERE name = $1', [name]);
      return rows[0]?.id ?? null;
    },
    async read(orgId) {
      const [runs, steps, timeline, events, ledger, workflows] = await Promise.all([
        query<RunRow>(QUERIES.runs, [orgId]),
        query<StepRow>(QUERIES.steps, [orgId]),
        query<TimelineRow>(QUERIES.timeline, [orgId]),
        query<EventRow>(QUERIES.events, [orgId]),
        query<LedgerRow>(QUERIES.ledger, [orgId]),
        query<{ id: string; slug: string }>(QUERIES.workflows, [orgId]),
      ]);
      return { runs, steps, timeline, events, ledger, workflows };
    },
    async waitingRuns(orgId) {
      return query(
        `SELECT id, wait_match FROM runs WHERE org_id = $org AND wait_event_type IS NOT NULL AND status IN ('pending','running')`,
        [orgId],
      );
    },
    async close() {},
  };
}
