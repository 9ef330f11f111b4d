import type pg from 'pg';
import { readMigrations } from './migrate.js';

/** Throws a clear error when the database lacks migrations this version needs. */
export async function checkSchema(pool: pg.Pool): Promise<void> {
  const migrations = await readMigrations();
  const expected = Math.max(...migrations.map((m) => m.version));
  const { rows } = await pool.query<{ version: number | null }>(
    `SELECT CASE WHEN to_regclass('retry_worker_migrations') IS NULL THEN NULL
            ELSE (SELECT coalesce(max(version), 0) FROM retry_worker_migrations) END AS version`,
  );
  const version = rows[0]?.version ?? null;
  if (version === null || version < expected) {
    throw new Error(
      `the database is not migrated (schema version ${version ?? 'none'}, this release needs ${expected})` +
        `: run \`retry-worker migrate\` first`,
    );
  }
}
