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
  /** Claims that took a run from another lease holder, logged by the trigger `instrument()` adds. */
  takeovers: TakeoverRow[];
}

export interface TakeoverRow {
  run_id: string;
  old_owner: string;
  new_owner: string;
  old_expires_at: number;
  /** The database's time of the takeover (same machine clock as the processes, unskewed). */
  at: number;
}

const SQLITE_INSTRUMENT = `
CREATE TABLE IF NOT EXISTS chaos_lease_takeovers (run_id TEXT, old_owner TEXT, new_owner TEXT, old_expires_at INTEGER, at INTEGER);
CREATE TRIGGER IF NOT EXISTS chaos_lease_takeover AFTER UPDATE OF lease_owner ON runs
WHEN OLD.lease_owner IS NOT NULL AND NEW.lease_owner IS NOT NULL AND NEW.lease_owner <> OLD.lease_owner
BEGIN
  INSERT INTO chaos_lease_takeovers VALUES (NEW.id, OLD.lease_owner, NEW.lease_owner, OLD.lease_expires_at,
    CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;`;

const POSTGRES_INSTRUMENT = `
CREATE TABLE IF NOT EXISTS chaos_lease_takeovers (run_id text, old_owner text, new_owner text, old_expires_at bigint, at bigint);
CREATE OR REPLACE FUNCTION chaos_log_takeover() RETURNS trigger AS $fn$
BEGIN
  IF OLD.lease_owner IS NOT NULL AND NEW.lease_owner IS NOT NULL AND NEW.lease_owner <> OLD.lease_owner THEN
    INSERT INTO chaos_lease_takeovers VALUES (NEW.id, OLD.lease_owner, NEW.lease_owner, OLD.lease_expires_at,
      (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
  END IF;
  RETURN NEW;
END $fn$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS chaos_lease_takeover ON runs;
CREATE TRIGGER chaos_lease_takeover AFTER UPDATE OF lease_owner ON runs FOR EACH ROW EXECUTE FUNCTION chaos_log_takeover();`;

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
  takeovers: `SELECT t.run_id, t.old_owner, t.new_owner, t.old_expires_at, t.at FROM chaos_lease_takeovers t
              JOIN runs r ON r.id = t.run_id WHERE r.org_id = $org`,
} as const;

const JSON_COLUMNS = new Set(['input', 'output', 'data', 'wait_match']);
const NUMBER_COLUMNS = new Set([
  'old_expires_at',
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

/** SQLite keeps JSON as text; PostgreSQL's JSONB arrives parsed (a JSON string is then a plain string). */
function normalise<T>(rows: Record<string, unknown>[], jsonAsText: boolean): T[] {
  return rows.map((row) => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(row)) {
      if (jsonAsText && JSON_COLUMNS.has(key) && typeof value === 'string')
        out[key] = JSON.parse(value) as unknown;
      else if (NUMBER_COLUMNS.has(key) && value !== null && value !== undefined) out[key] = Number(value);
      else out[key] = value;
    }
    return out as T;
  });
}

/** Reads the org's rows straight from the database the processes share (SQL, both backends). */
export interface SnapshotReader {
  orgId(name: string): Promise<string | null>;
  /** Adds the test-only trigger that logs lease takeovers (a claim over another owner's lease). */
  instrument(): Promise<void>;
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
        true,
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
        takeovers: all<TakeoverRow>(QUERIES.takeovers, orgId),
      };
    },
    async instrument() {
      const db = open();
      try {
        db.exec(SQLITE_INSTRUMENT);
      } finally {
        db.close();
      }
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
        const result = await client.query(
          sql.replaceAll('$org', '$1'),
          params.length > 0 ? params : undefined,
        );
        // A script of several statements answers with one result each; only single queries read rows.
        const rows = Array.isArray(result) ? [] : result.rows;
        return normalise<T>(rows as Record<string, unknown>[], false);
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
      const [runs, steps, timeline, events, ledger, workflows, takeovers] = await Promise.all([
        query<RunRow>(QUERIES.runs, [orgId]),
        query<StepRow>(QUERIES.steps, [orgId]),
        query<TimelineRow>(QUERIES.timeline, [orgId]),
        query<EventRow>(QUERIES.events, [orgId]),
        query<LedgerRow>(QUERIES.ledger, [orgId]),
        query<{ id: string; slug: string }>(QUERIES.workflows, [orgId]),
        query<TakeoverRow>(QUERIES.takeovers, [orgId]),
      ]);
      return { runs, steps, timeline, events, ledger, workflows, takeovers };
    },
    async instrument() {
      await query(POSTGRES_INSTRUMENT, []);
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
