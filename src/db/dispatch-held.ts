import type pg from 'pg';

/** How a message's record is named in dispatchHeld's answer. */
export const heldKey = (m: { id: number; token: string }) => `${m.id} ${m.token}`;

/**
 * Dispatch mode, on a consumer whose lock found no row for some messages of a group: those whose record is
 * still due under the message's token (keys by heldKey), so that the lock missed it only because its row is
 * locked by a transaction elsewhere (an execution on another replica, or one whose replica has just died and
 * whose transaction Postgres has not ended yet). Such a message is not a stale copy: if that transaction never
 * commits, it is the record's only message. One statement for the group; it reads without locking, so it never
 * waits for the holder. A token is a random UUID of one mark of one row, so a row matching both lists carries
 * the token of a message for that very record.
 */
export async function dispatchHeld(
  db: pg.Pool,
  messages: readonly { id: number; token: string }[],
): Promise<Set<string>> {
  if (messages.length === 0) return new Set();
  const { rows } = await db.query<{ id: number; token: string }>({
    name: 'retry-worker-dispatch-held',
    text: `
      SELECT id, dispatch_token::text AS token FROM failed_records f
      WHERE id = ANY ($1::bigint[]) AND dispatch_token = ANY ($2::uuid[])
        AND status = 'pending' AND next_run_at <= now()
        AND NOT EXISTS (SELECT 1 FROM retry_worker_paused_kinds z WHERE z.kind = f.kind)`,
    values: [messages.map((m) => m.id), messages.map((m) => m.token)],
  });
  return new Set(rows.map(heldKey));
}
