import type pg from 'pg';

/**
 * Whether a claim transaction holds the row now (false when the row does not exist): lockedRecords of one.
 */
export async function isRecordLocked(pool: pg.Pool, id: number): Promise<boolean> {
  return (await lockedRecords(pool, [id])) === 1;
}

/**
 * How many of the rows `ids` a claim transaction holds now, read in one statement. It tries FOR SHARE with SKIP
 * LOCKED in a transaction it rolls back: the claims' FOR UPDATE and FOR NO KEY UPDATE conflict with it, so a
 * held row is skipped and nothing waits. (For that instant a claim would skip the rows too; the next claim takes
 * them.) Rows that do not exist do not count.
 */
export async function lockedRecords(pool: pg.Pool, ids: readonly number[]): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ n: number }>({
      name: 'retry-worker.locked-records',
      text: `
        SELECT count(*)::int AS n FROM failed_records r
        WHERE r.id = ANY($1::bigint[])
          AND NOT EXISTS (SELECT 1 FROM failed_records f WHERE f.id = r.id FOR SHARE SKIP LOCKED)`,
      values: [ids],
    });
    return rows[0]!.n;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}
