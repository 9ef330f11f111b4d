import type pg from 'pg';

/** What `status` shows of dispatch mode, from Postgres. */
export interface DispatchStats {
  /** Pending records with a message in flight (marked by the leader, not completed yet). */
  inFlight: number;
  /** Of them, marked longer ago than `redeliverAfterMs`: taken as lost, published again by the leader. */
  overdue: number;
  /** Executions per replica among the latest `recent` attempts of the ledger, most first. */
  recentByReplica: { replicaId: string; attempts: number }[];
  recent: number;
}

/** Counts read by primary key and the dispatch index only (never a scan of the whole ledger). */
export async function readDispatchStats(
  db: pg.Pool | pg.ClientBase,
  redeliverAfterMs: number,
  recent = 1_000,
): Promise<DispatchStats> {
  const [marks, replicas] = await Promise.all([
    db.query<{ inFlight: number; overdue: number }>(
      `SELECT count(*)::int AS "inFlight",
              count(*) FILTER (WHERE dispatched_at < now() - $1::bigint * interval '1 millisecond')::int AS overdue
       FROM failed_records WHERE status = 'pending' AND dispatch_token IS NOT NULL`,
      [redeliverAfterMs],
    ),
    db.query<{ replicaId: string; attempts: number }>(
      `SELECT replica_id AS "replicaId", count(*)::int AS attempts
       FROM (SELECT replica_id FROM retry_worker_attempts ORDER BY id DESC LIMIT $1) a
       GROUP BY replica_id ORDER BY attempts DESC, replica_id`,
      [recent],
    ),
  ]);
  return { ...marks.rows[0]!, recentByReplica: replicas.rows, recent };
}
