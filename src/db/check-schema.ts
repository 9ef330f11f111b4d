import type pg from 'pg';
import { ConfigError } from '../errors.js';
import { readMigrations } from './migrate.js';

/**
 * Throws a clear error when the database lacks migrations this version needs, or when the pool's connection
 * does not carry the session settings it was opened with (`session`, sent in the startup packet).
 *
 * The second check is for a connection pooler between the worker and Postgres. Those settings include
 * idle_in_transaction_session_timeout, which bounds how long a lost leader's claim sessions keep their rows
 * locked: a pooler that drops them (PgBouncer does, with `options` in its ignore_startup_parameters) would
 * leave a frozen leader's rows locked for as long as its TCP connection lives, and the "replaced within a lease
 * TTL" promise would silently not hold. tcp_* settings are left out: Postgres shows them as 0 on a Unix socket.
 */
export async function checkSchema(
  pool: pg.Pool,
  session: Readonly<Record<string, number | string>> = {},
): Promise<void> {
  const migrations = await readMigrations();
  const expected = Math.max(...migrations.map((m) => m.version));
  const names = Object.keys(session).filter((name) => !name.startsWith('tcp_'));
  const { rows } = await pool.query<{ version: number | null; settings: Record<string, string> | null }>(
    `SELECT CASE WHEN to_regclass('retry_worker_migrations') IS NULL THEN NULL
            ELSE (SELECT coalesce(max(version), 0) FROM retry_worker_migrations) END AS version,
            (SELECT json_object_agg(name, setting) FROM pg_settings WHERE name = ANY($1::text[])) AS settings`,
    [names],
  );
  const version = rows[0]?.version ?? null;
  if (version === null || version < expected) {
    throw new Error(
      `the database is not migrated (schema version ${version ?? 'none'}, this release needs ${expected})` +
        `: run \`retry-worker migrate\` first`,
    );
  }
  const settings = rows[0]?.settings ?? {};
  const lost = names.filter((name) => settings[name] !== String(session[name]));
  if (lost.length > 0) {
    const shown = lost.map((name) => `${name} is ${settings[name] ?? 'unknown'}, expected ${session[name]}`);
    throw new ConfigError(
      'DATABASE_URL',
      `the connection does not keep the session settings the worker opens it with (${shown.join('; ')}). ` +
        'Is a connection pooler (PgBouncer) in between? Connect the replicas to Postgres directly, or through a ' +
        'pooler in session mode that passes the startup options on',
    );
  }
}
