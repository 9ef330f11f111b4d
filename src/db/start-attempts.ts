import type pg from 'pg';

export interface AttemptStart {
  recordId: number;
  recordUid: string;
  attempt: number;
}

/**
 * Writes one ledger row per attempt about to start, in one autocommit statement on a connection of its own
 * (never a claim transaction): a crash that rolls the claim back cannot erase it, so an attempt whose
 * executor died still counts. Returns each row's id, in the order given. The unique index on (record_uid,
 * attempt) refuses a second start of the same attempt. A named statement: planned once per connection.
 */
export async function startAttempts(
  db: pg.Pool | pg.ClientBase,
  starts: readonly AttemptStart[],
  epoch: number,
  replicaId: string,
): Promise<number[]> {
  const { rows } = await db.query<{ id: number; n: number }>({
    name: 'retry-worker-start-attempts',
    text: `INSERT INTO retry_worker_attempts (record_id, record_uid, attempt, epoch, replica_id)
     SELECT s.record_id, s.record_uid, s.attempt, $4, $5
     FROM unnest($1::bigint[], $2::uuid[], $3::int[]) WITH ORDINALITY AS s(record_id, record_uid, attempt, n)
     ORDER BY s.n
     RETURNING id`,
    values: [
      starts.map((s) => s.recordId),
      starts.map((s) => s.recordUid),
      starts.map((s) => s.attempt),
      epoch,
      replicaId,
    ],
  });
  return rows.map((r) => r.id);
}
