import type pg from 'pg';

/**
 * Whether a claim transaction holds the row now. It tries FOR SHARE with SKIP LOCKED in a transaction it rolls
 * back: the claims' FOR UPDATE and FOR NO KEY UPDATE conflict with it, so a held row is skipped and nothing
 * waits. (For that instant a claim would skip the row too; the next claim takes it.)
 * Returns false when the row does not exist.
 */
export async function isRecordLocked(pool: pg.Pool, id: number): Promise<boolean> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ id: number; free: boolean }>({
      name: 'retry-worker.is-record-locked',
      text: `
        SELECT r.id, EXISTS (SELECT 1 FROM failed_records f WHERE f.id = r.id FOR SHARE SKIP LOCKED) AS free
        FROM failed_records r WHERE r.id = $1`,
      values: [id],
    });
    return rows.length > 0 && !rows[0]!.free;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}
