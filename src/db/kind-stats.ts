import type pg from 'pg';

/** One kind's records, for `status`, the page and /metrics. */
export interface KindStats {
  kind: string;
  /** Pending and due now. */
  due: number;
  /** Pending, not due before next_run_at (a backoff or a later schedule). */
  backoff: number;
  succeededLastHour: number;
  deadLastHour: number;
  paused: { by: string; reason: string | null; at: Date } | null;
}

/**
 * Per-kind counts in one pass over failed_records (judged by the database's clock), with the paused kinds
 * (also those with no records yet). The caller bounds it (statement_timeout) and caches it.
 */
export async function readKindStats(db: pg.Pool | pg.ClientBase): Promise<KindStats[]> {
  const { rows } = await db.query<{
    kind: string;
    due: number;
    backoff: number;
    succeeded: number;
    dead: number;
    paused_by: string | null;
    reason: string | null;
    paused_at: Date | null;
  }>(
    `WITH counts AS (
       SELECT kind,
              count(*) FILTER (WHERE status = 'pending' AND next_run_at <= now()) AS due,
              count(*) FILTER (WHERE status = 'pending' AND next_run_at > now()) AS backoff,
              count(*) FILTER (WHERE status = 'succeeded' AND finished_at > now() - interval '1 hour') AS succeeded,
              count(*) FILTER (WHERE status = 'dead' AND finished_at > now() - interval '1 hour') AS dead
       FROM failed_records
       GROUP BY kind
     )
     SELECT coalesce(c.kind, p.kind) AS kind, coalesce(c.due, 0)::int8 AS due, coalesce(c.backoff, 0)::int8 AS backoff,
            coalesce(c.succeeded, 0)::int8 AS succeeded, coalesce(c.dead, 0)::int8 AS dead,
            p.paused_by, p.reason, p.paused_at
     FROM counts c FULL JOIN retry_worker_paused_kinds p ON p.kind = c.kind
     ORDER BY 1`,
  );
  return rows.map((r) => ({
    kind: r.kind,
    due: Number(r.due),
    backoff: Number(r.backoff),
    succeededLastHour: Number(r.succeeded),
    deadLastHour: Number(r.dead),
    paused: r.paused_by !== null ? { by: r.paused_by, reason: r.reason, at: r.paused_at! } : null,
  }));
}
