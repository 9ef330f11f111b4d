import type pg from 'pg';

export interface NewRecord {
  kind: string;
  payload: unknown;
  /** null: DEFAULT_MAX_ATTEMPTS. */
  maxAttempts: number | null;
}

/** Inserts failed records in one statement (as a user's service would); returns their ids. */
export async function insertRecords(db: pg.Pool | pg.ClientBase, records: readonly NewRecord[]): Promise<number[]> {
  const { rows } = await db.query<{ id: number }>({
    name: 'retry-worker.insert-records',
    text: `
      INSERT INTO failed_records (kind, payload, max_attempts)
      SELECT kind, payload, max_attempts
      FROM unnest($1::text[], $2::jsonb[], $3::int[]) WITH ORDINALITY AS r(kind, payload, max_attempts, n)
      ORDER BY n
      RETURNING id`,
    values: [
      records.map((r) => r.kind),
      records.map((r) => JSON.stringify(r.payload)),
      records.map((r) => r.maxAttempts),
    ],
  });
  return rows.map((r) => r.id);
}
