import type pg from 'pg';

/**
 * Dispatch mode, on a consumer whose lock found no row for a message: whether the record is still due under
 * that message's token, so that the lock missed it only because its row is locked by a transaction elsewhere
 * (an execution on another replica, or one whose replica has just died and whose transaction Postgres has not
 * ended yet). Such a message is not a stale copy: if that transaction never commits, it is the record's only
 * message. Reads without locking, so it never waits for the holder.
 */
export async function isDispatchHeld(db: pg.Pool, id: number, token: string): Promise<boolean> {
  const { rows } = await db.query({
    name: 'retry-worker-is-dispatch-held',
    text: `
      SELECT 1 FROM failed_records f
      WHERE id = $1 AND dispatch_token = $2::uuid AND status = 'pending' AND next_run_at <= now()
        AND NOT EXISTS (SELECT 1 FROM retry_worker_paused_kinds z WHERE z.kind = f.kind)`,
    values: [id, token],
  });
  return rows.length > 0;
}
