import type { Millis, RunRecord } from '../../domain/model.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { decodeRow, RUN_CODECS } from './sqlite-rows.js';

const RUNNABLE = `status IN ('pending', 'running') AND available_at IS NOT NULL`;

/**
 * The claim's three statements, each an index range walk of `runs_org_claim_idx` (exported
 * so a test can hold them to that with EXPLAIN QUERY PLAN): the first and the next
 * (org, priority) queue with runnable runs (a loose index scan: one seek per queue, never a
 * walk of the backlog), and a queue's runs due now, oldest first.
 */
export const CLAIM_QUEUE_SQL = {
  first: `SELECT org_id, priority FROM runs WHERE ${RUNNABLE} ORDER BY org_id, priority LIMIT 1`,
  after: `SELECT org_id, priority FROM runs WHERE ${RUNNABLE} AND (org_id, priority) > (?, ?)
    ORDER BY org_id, priority LIMIT 1`,
  due: `SELECT id, available_at FROM runs WHERE ${RUNNABLE} AND org_id = ? AND priority = ? AND available_at <= ?
    ORDER BY available_at LIMIT ?`,
} as const;

/** Each claim bumps `lease_epoch`, the token that fences the claim's later writes. */
const LEASE_RUN_SQL = `UPDATE runs SET status = CASE status WHEN 'pending' THEN 'running' ELSE status END,
  lease_owner = ?, lease_expires_at = ?, available_at = ?, lease_epoch = lease_epoch + 1 WHERE id = ? RETURNING *`;

/** A claim queue: the runnable runs of one org with one priority. */
interface Queue {
  org_id: string;
  priority: number;
}

type Due = { id: string; available_at: Millis };

/**
 * Leases up to `limit` due runs, fairly between orgs, in one write transaction: at most
 * `limit` orgs are served, those whose oldest due run has waited longest; each gives its
 * due runs highest priority first, oldest first, and they are taken turn by turn (every
 * org's first, then every org's second, …), so one org's backlog delays another org's run
 * by at most one turn.
 */
export function claimRunnableRuns(
  connection: SqliteConnection,
  owner: string,
  limit: number,
  leaseMs: number,
  now: Millis,
): RunRecord[] {
  return connection.write(() => {
    const dueIn = (queue: Queue, count: number) =>
      connection.statement(CLAIM_QUEUE_SQL.due).all(queue.org_id, queue.priority, now, count) as Due[];
    // Each org's due runs, queue by queue, and when its longest-waiting due run became due.
    // One read per queue: the most a queue can give is `limit`, so it is read once.
    const orgs = new Map<string, { due: Due[][]; since: Millis }>();
    for (const queue of runnableQueues(connection)) {
      const due = dueIn(queue, limit);
      const [head] = due;
      if (head === undefined) continue;
      const org = orgs.get(queue.org_id) ?? { due: [], since: head.available_at };
      // Queues come lowest priority first within an org: a higher one goes in front.
      org.due.unshift(due);
      org.since = Math.min(org.since, head.available_at);
      orgs.set(queue.org_id, org);
    }
    const served = [...orgs.values()].sort((a, b) => a.since - b.since).slice(0, limit);
    const turns = served
      .flatMap((org) =>
        org.due
          .flat()
          .slice(0, limit)
          .map((run, turn) => ({ ...run, turn })),
      )
      .sort((a, b) => a.turn - b.turn || a.available_at - b.available_at)
      .slice(0, limit);
    const until = now + leaseMs;
    const lease = connection.statement(LEASE_RUN_SQL);
    return turns.map(({ id }) => decodeRow(lease.get(owner, until, until, id), RUN_CODECS));
  });
}

/** The (org, priority) queues holding runnable runs, by org then priority, one index seek each. */
function runnableQueues(connection: SqliteConnection): Queue[] {
  const queues: Queue[] = [];
  const next = connection.statement(CLAIM_QUEUE_SQL.after);
  let queue = connection.statement(CLAIM_QUEUE_SQL.first).get() as Queue | undefined;
  while (queue !== undefined) {
    queues.push(queue);
    queue = next.get(queue.org_id, queue.priority) as Queue | undefined;
  }
  return queues;
}
