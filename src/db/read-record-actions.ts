import type pg from 'pg';

/** One operator action on a record (requeue, discard, cancel, cancel-requested): who, when, why. */
export interface RecordActionRow {
  action: string;
  actor: string;
  reason: string | null;
  at: Date;
}

/** The latest `limit` operator actions on one record (of its identity), newest first. */
export async function readRecordActions(
  db: pg.Pool | pg.ClientBase,
  recordId: number,
  limit: number,
): Promise<RecordActionRow[]> {
  const { rows } = await db.query<RecordActionRow>({
    name: 'retry-worker.read-record-actions',
    text: `
      SELECT action, actor, reason, at
      FROM retry_worker_record_actions
      WHERE record_uid = (SELECT uid FROM failed_records WHERE id = $1)
      ORDER BY id DESC
      LIMIT $2`,
    values: [recordId, limit],
  });
  return rows;
}
