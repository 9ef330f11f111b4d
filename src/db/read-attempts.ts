import type pg from 'pg';

/** One row of the attempt ledger. outcome null: running now, or its executor died. */
export interface AttemptRow {
  attempt: number;
  epoch: number;
  replicaId: string;
  startedAt: Date;
  finishedAt: Date | null;
  outcome: 'succeeded' | 'failed' | 'dead' | 'cancelled' | null;
  error: string | null;
}

/**
 * The latest `limit` ledger rows of one record (of its identity: not those of an earlier record with its id), newest
 * first.
 */
export async function readAttempts(
  db: pg.Pool | pg.ClientBase,
  recordId: number,
  limit: number,
): Promise<AttemptRow[]> {
  const { rows } = await db.query<AttemptRow>({
    name: 'retry-worker.read-attempts',
    text: `
      SELECT attempt, epoch, replica_id AS "replicaId", started_at AS "startedAt", finished_at AS "finishedAt",
             outcome, error
      FROM failed_record_attempts
      WHERE record_uid = (SELECT uid FROM failed_records WHERE id = $1)
      ORDER BY id DESC
      LIMIT $2`,
    values: [recordId, limit],
  });
  return rows;
}
