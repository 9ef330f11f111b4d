import type pg from 'pg';

/** One row of retry_worker_terms: a term that reached Postgres, and how it ended (null while open). */
export interface TermRow {
  name: string;
  epoch: number;
  holder: string;
  backend: string;
  startedAt: Date;
  endedAt: Date | null;
  endReason: string | null;
}

/** The latest `limit` terms of one election, newest first (the primary key serves it backwards). */
export async function readRecentTerms(db: pg.Pool | pg.ClientBase, name: string, limit: number): Promise<TermRow[]> {
  const { rows } = await db.query<TermRow>({
    name: 'retry-worker.recent-terms',
    text: `
      SELECT name, epoch, holder, backend, started_at AS "startedAt", ended_at AS "endedAt", end_reason AS "endReason"
      FROM retry_worker_terms
      WHERE name = $1
      ORDER BY epoch DESC
      LIMIT $2`,
    values: [name, limit],
  });
  return rows;
}
