import type pg from 'pg';
import type { RecordStatus } from './complete-records.js';
import { DUE_CHANNEL } from './listen-due.js';

/** Which records an operator action applies to. Every field narrows; `statuses` is required. */
export interface RecordSelector {
  statuses: readonly RecordStatus[];
  ids?: readonly number[] | undefined;
  kind?: string | undefined;
  /** A LIKE pattern (`%`, `_`), matched case-insensitively against last_error. */
  errorLike?: string | undefined;
  /** updated_at (for a finished record: when it finished) at or after this. */
  since?: Date | undefined;
  /** updated_at before this. */
  until?: Date | undefined;
}

/** What an operator does to the selected rows. */
export type MoveAction = 'requeue' | 'discard';

/** The row each action writes. A requeue gives a fresh attempt budget: the attempts so far become the base. */
const SET: Record<MoveAction, string> = {
  requeue: `status = 'pending', attempt_base = f.attempts, next_run_at = now(), finished_at = NULL, updated_at = now()`,
  discard: `status = 'discarded', finished_at = now(), updated_at = now()`,
};

/** The selector as a WHERE clause over alias `f`, its values bound from $1 to $6. */
const FILTER = `f.status = ANY($1::text[])
  AND ($2::bigint[] IS NULL OR f.id = ANY($2::bigint[]))
  AND ($3::text IS NULL OR f.kind = $3)
  AND ($4::text IS NULL OR f.last_error ILIKE $4)
  AND ($5::timestamptz IS NULL OR f.updated_at >= $5)
  AND ($6::timestamptz IS NULL OR f.updated_at < $6)`;

function filterValues(s: RecordSelector): unknown[] {
  return [s.statuses, s.ids ?? null, s.kind ?? null, s.errorLike ?? null, s.since ?? null, s.until ?? null];
}

export interface MoveBatch {
  /** The highest id the batch looked at (the next batch starts after it); null when none was left. */
  lastId: number | null;
  /** Rows that matched the selector in this batch. */
  matched: number;
  /** Rows moved (dry run: that would be moved). */
  moved: number;
  /** Matching rows left alone because a claim holds them (executing, or claimed for execution now). */
  skipped: number[];
}

export interface MoveArgs {
  action: MoveAction;
  selector: RecordSelector;
  afterId: number;
  limit: number;
  actor: string;
  reason: string | null;
  /** Lock and count only (FOR SHARE, which conflicts with a claim's FOR UPDATE just the same); write nothing. */
  dryRun: boolean;
}

/**
 * One batch of an operator action, one statement, keyset-paginated by id: the next `limit` matching rows after
 * `afterId`, of which those no claim holds (FOR UPDATE SKIP LOCKED, with the selector checked again on the
 * locked row) are moved and their action recorded in retry_worker_record_actions. A row a claim holds is
 * executing, or about to: it is never touched, only reported. Its locks last only as long as the caller's
 * transaction: autocommit, or the caller's short one. A succeeded record's last attempt may have no outcome in
 * the ledger (failed_record_attempts shows it from the record's status): moving the record, that success is
 * written to the ledger in the same statement, so the view still shows it.
 */
export async function moveRecords(db: pg.Pool | pg.ClientBase, args: MoveArgs): Promise<MoveBatch> {
  const values = [...filterValues(args.selector), args.afterId, args.limit];
  const picked = `SELECT f.id FROM failed_records f WHERE f.id > $7 AND ${FILTER} ORDER BY f.id LIMIT $8`;
  const text = args.dryRun
    ? `WITH picked AS (${picked}),
       locked AS (SELECT f.id FROM failed_records f WHERE f.id IN (SELECT id FROM picked) AND ${FILTER}
                  FOR SHARE SKIP LOCKED)
       SELECT (SELECT max(id) FROM picked) AS "lastId", (SELECT count(*) FROM picked)::int AS matched,
              (SELECT count(*) FROM locked)::int AS moved,
              ARRAY(SELECT id FROM picked EXCEPT SELECT id FROM locked ORDER BY 1) AS skipped`
    : `WITH picked AS (${picked}),
       locked AS (SELECT f.id, f.uid, f.status, f.attempts, f.finished_at FROM failed_records f
                  WHERE f.id IN (SELECT id FROM picked) AND ${FILTER}
                  FOR UPDATE SKIP LOCKED),
       moved AS (UPDATE failed_records f SET ${SET[args.action]} FROM locked l WHERE f.id = l.id
                 RETURNING f.id, f.uid),
       kept AS (UPDATE retry_worker_attempts a SET outcome = 'succeeded', finished_at = l.finished_at
                FROM locked l
                WHERE l.status = 'succeeded' AND a.record_uid = l.uid AND a.attempt = l.attempts
                  AND a.outcome IS NULL),
       logged AS (INSERT INTO retry_worker_record_actions (record_uid, record_id, action, actor, reason)
                  SELECT uid, id, $9, $10, $11 FROM moved)
       SELECT (SELECT max(id) FROM picked) AS "lastId", (SELECT count(*) FROM picked)::int AS matched,
              (SELECT count(*) FROM moved)::int AS moved,
              ARRAY(SELECT id FROM picked EXCEPT SELECT id FROM moved ORDER BY 1) AS skipped`;
  if (!args.dryRun) values.push(args.action, args.actor, args.reason);
  const { rows } = await db.query<MoveBatch>(text, values);
  return rows[0]!;
}

/** The given ids that do not exist, and those whose status the selector does not take (with their status). */
export async function checkIds(
  db: pg.Pool | pg.ClientBase,
  ids: readonly number[],
  statuses: readonly RecordStatus[],
): Promise<{ unknownIds: number[]; otherStatus: { id: number; status: RecordStatus }[] }> {
  const { rows } = await db.query<{ id: number; status: RecordStatus }>(
    'SELECT id, status FROM failed_records WHERE id = ANY($1::bigint[])',
    [ids],
  );
  const found = new Map(rows.map((r) => [r.id, r.status]));
  return {
    unknownIds: ids.filter((id) => !found.has(id)),
    otherStatus: rows.filter((r) => !statuses.includes(r.status)).sort((a, b) => a.id - b.id),
  };
}

/** Wakes the leader (the insert trigger's channel): requeued records are due now. */
export async function notifyDue(db: pg.Pool | pg.ClientBase): Promise<void> {
  await db.query(`SELECT pg_notify('${DUE_CHANNEL}', '')`);
}
