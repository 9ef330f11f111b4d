import type pg from 'pg';

export interface StoredFence {
  epoch: number;
  token: string | null;
  holder: string;
}

/** The term Postgres holds for an election (its highest epoch), if any. */
export async function readFence(db: pg.Pool | pg.ClientBase, electionName: string): Promise<StoredFence | undefined> {
  const { rows } = await db.query<StoredFence>('SELECT epoch, token, holder FROM retry_worker_leader WHERE name = $1', [
    electionName,
  ]);
  return rows[0];
}
