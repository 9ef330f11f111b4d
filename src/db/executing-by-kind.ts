import type pg from 'pg';

/**
 * Attempts of the current term (the stored epoch) that have started and have no outcome yet, by kind: what
 * the leader executes now, as the ledger tells it (an executor that died shows here until the next claim).
 */
export async function readExecutingByKind(
  db: pg.Pool | pg.ClientBase,
  electionName: string,
): Promise<Map<string, number>> {
  const { rows } = await db.query<{ kind: string; n: number }>(
    `SELECT f.kind, count(*)::int AS n
     FROM retry_worker_attempts a
     JOIN failed_records f ON f.uid = a.record_uid AND f.status = 'pending' AND a.attempt > f.attempts
     WHERE a.outcome IS NULL AND a.epoch = (SELECT epoch FROM retry_worker_leader WHERE name = $1)
     GROUP BY f.kind`,
    [electionName],
  );
  return new Map(rows.map((r) => [r.kind, r.n]));
}
