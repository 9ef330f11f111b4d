import type pg from 'pg';

/** The cheapest round trip: resolves once the database has answered a statement. */
export async function pingDatabase(db: pg.Pool | pg.ClientBase): Promise<void> {
  await db.query('SELECT 1');
}
