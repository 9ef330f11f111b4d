import type pg from 'pg';

export interface PruneArgs {
  /** Succeeded records finished longer ago than this are deleted; null: kept. */
  succeededOlderThanMs: number | null;
  /** Dead, discarded and cancelled records finished longer ago than this are deleted; null: kept. */
  finishedOlderThanMs: number | null;
  afterId: number;
  /** Ids looked at per statement (at most this many records deleted by it). */
  limit: number;
}

export interface PruneBatch {
  /** The highest id looked at; null when none was left. */
  lastId: number | null;
  scanned: number;
  records: number;
  attempts: number;
  actions: number;
}

/**
 * One batch of retention, one statement: among the next `limit` records by id after `afterId`, deletes the
 * finished ones older than their retention, with their ledger rows and their history. Keyset by id, so it
 * needs no index of its own (none to maintain on every completion) and each statement is short. A row some
 * other statement holds (a requeue in progress) is skipped.
 */
export async function pruneRecords(db: pg.Pool | pg.ClientBase, args: PruneArgs): Promise<PruneBatch> {
  const { rows } = await db.query<PruneBatch>(
    `WITH scanned AS (SELECT id FROM failed_records WHERE id > $1 ORDER BY id LIMIT $2),
     victims AS (
       SELECT f.id, f.uid FROM failed_records f
       WHERE f.id IN (SELECT id FROM scanned)
         AND ((f.status = 'succeeded' AND $3::float8 IS NOT NULL
               AND f.finished_at < now() - $3::float8 * interval '1 millisecond')
           OR (f.status IN ('dead', 'discarded', 'cancelled') AND $4::float8 IS NOT NULL
               AND f.finished_at < now() - $4::float8 * interval '1 millisecond'))
       FOR UPDATE SKIP LOCKED),
     attempts AS (DELETE FROM retry_worker_attempts a USING victims v WHERE a.record_uid = v.uid RETURNING 1),
     actions AS (DELETE FROM retry_worker_record_actions r USING victims v WHERE r.record_uid = v.uid RETURNING 1),
     gone AS (DELETE FROM failed_records f USING victims v WHERE f.id = v.id RETURNING 1)
     SELECT (SELECT max(id) FROM scanned) AS "lastId", (SELECT count(*) FROM scanned)::int AS scanned,
            (SELECT count(*) FROM gone)::int AS records, (SELECT count(*) FROM attempts)::int AS attempts,
            (SELECT count(*) FROM actions)::int AS actions`,
    [args.afterId, args.limit, args.succeededOlderThanMs, args.finishedOlderThanMs],
  );
  return rows[0]!;
}
