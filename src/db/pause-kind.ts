import type pg from 'pg';
import { DUE_CHANNEL } from './listen-due.js';

export interface PausedKind {
  kind: string;
  pausedBy: string;
  reason: string | null;
  pausedAt: Date;
}

/** Pauses a kind (the claim takes none of its records), or updates who paused it and why. */
export async function pauseKind(
  db: pg.Pool | pg.ClientBase,
  kind: string,
  pausedBy: string,
  reason: string | null,
): Promise<PausedKind> {
  const { rows } = await db.query<PausedKind>(
    `INSERT INTO retry_worker_paused_kinds (kind, paused_by, reason) VALUES ($1, $2, $3)
     ON CONFLICT (kind) DO UPDATE SET paused_by = EXCLUDED.paused_by, reason = EXCLUDED.reason
     RETURNING kind, paused_by AS "pausedBy", reason, paused_at AS "pausedAt"`,
    [kind, pausedBy, reason],
  );
  return rows[0]!;
}

/**
 * Resumes a kind; returns whether it was paused. In dispatch mode, consumers dropped the messages of a paused
 * kind, and their records still carry the marks: the same statement clears the marks of its pending records no
 * execution holds (SKIP LOCKED), and wakes the leader (NOTIFY), so that it publishes them again at once
 * instead of after DISPATCH_REDELIVER_AFTER_MS (in leader mode, it claims them at once instead of at its next
 * poll). A message still queued for one of them becomes stale and is dropped.
 */
export async function resumeKind(db: pg.Pool | pg.ClientBase, kind: string): Promise<boolean> {
  const { rows } = await db.query<{ resumed: boolean }>(
    `WITH resumed AS (DELETE FROM retry_worker_paused_kinds WHERE kind = $1 RETURNING kind),
     unmarked AS (
       UPDATE failed_records SET dispatched_at = NULL, dispatch_token = NULL
       WHERE id IN (SELECT id FROM failed_records
                    WHERE kind = $1 AND status = 'pending' AND dispatch_token IS NOT NULL
                    FOR UPDATE SKIP LOCKED)
         AND EXISTS (SELECT 1 FROM resumed)
     )
     SELECT EXISTS (SELECT 1 FROM resumed) AS resumed, pg_notify('${DUE_CHANNEL}', '')`,
    [kind],
  );
  return rows[0]!.resumed;
}
