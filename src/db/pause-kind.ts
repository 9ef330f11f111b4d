import type pg from 'pg';

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

/** Resumes a kind; returns whether it was paused. */
export async function resumeKind(db: pg.Pool | pg.ClientBase, kind: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM retry_worker_paused_kinds WHERE kind = $1', [kind]);
  return (rowCount ?? 0) > 0;
}
