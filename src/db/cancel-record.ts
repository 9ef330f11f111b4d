import type pg from 'pg';
import type { RecordStatus } from './complete-records.js';
import { CANCEL_CHANNEL } from './listen-due.js';

/** What one try to cancel a record found: it does not exist, it was cancelled now, or its status and lock. */
export type CancelTry =
  | { found: false }
  | { found: true; cancelled: true }
  | { found: true; cancelled: false; status: RecordStatus };

/**
 * Cancels a pending record that no claim holds (FOR UPDATE SKIP LOCKED), in one statement, recording the
 * action. A pending record that stays pending here is held by a claim: it is executing, or about to.
 */
export async function tryCancelRecord(
  db: pg.Pool | pg.ClientBase,
  id: number,
  actor: string,
  reason: string | null,
): Promise<CancelTry> {
  const { rows } = await db.query<{ status: RecordStatus; moved: number }>(
    `WITH locked AS (SELECT f.id FROM failed_records f WHERE f.id = $1 AND f.status = 'pending' FOR UPDATE SKIP LOCKED),
     moved AS (UPDATE failed_records f SET status = 'cancelled', finished_at = now(), updated_at = now(),
                 last_error = 'cancelled by ' || $2 || coalesce(': ' || $3, '')
               FROM locked l WHERE f.id = l.id RETURNING f.id, f.uid),
     logged AS (INSERT INTO retry_worker_record_actions (record_uid, record_id, action, actor, reason)
                SELECT uid, id, 'cancel', $2, $3 FROM moved)
     SELECT status, (SELECT count(*) FROM moved)::int AS moved FROM failed_records WHERE id = $1`,
    [id, actor, reason],
  );
  if (rows.length === 0) return { found: false };
  if (rows[0]!.moved > 0) return { found: true, cancelled: true };
  return { found: true, cancelled: false, status: rows[0]!.status };
}

/**
 * Tells the leader that an executing record is cancelled (NOTIFY on the cancel channel, the record's id as
 * payload), and records the request in the record's history once (`record` true).
 */
export async function requestCancel(
  db: pg.Pool | pg.ClientBase,
  id: number,
  actor: string,
  reason: string | null,
  record: boolean,
): Promise<void> {
  await db.query(
    `WITH logged AS (INSERT INTO retry_worker_record_actions (record_uid, record_id, action, actor, reason)
                     SELECT uid, id, 'cancel-requested', $2, $3 FROM failed_records WHERE id = $1 AND $4)
     SELECT pg_notify('${CANCEL_CHANNEL}', $1::text)`,
    [id, actor, reason, record],
  );
}
