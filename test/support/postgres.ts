import pg from 'pg';
import { migrate } from '../../src/db/migrate.js';
import { createPool } from '../../src/db/pool.js';
import { type EmbeddedPostgresOptions, startEmbeddedPostgres } from '../../src/demo/start-embedded-postgres.js';

export interface PostgresServer {
  /** A URL of the server with the database part left to the caller. */
  urlFor(database: string): string;
  /** Stops the server if this process started it. */
  stop(): Promise<void>;
  /** Restarts the server (fast shutdown), down for `downMs` in between; only for a server this process started. */
  restart?(downMs?: number): Promise<void>;
}

let server: Promise<PostgresServer> | undefined;
let users = 0;

/**
 * Postgres for tests: DATABASE_URL's server when set, else a real PostgreSQL from the embedded-postgres
 * package in a temporary directory (as root, the package runs it as the `postgres` user, which owns the dir).
 */
export function postgresServer(): Promise<PostgresServer> {
  if (!server) {
    const starting = process.env.DATABASE_URL ? Promise.resolve(fromUrl(process.env.DATABASE_URL)) : startEmbedded();
    // A failed start is not kept: the next test tries again instead of failing at once with the same error.
    starting.catch(() => {
      if (server === starting) server = undefined;
    });
    server = starting;
  }
  return server;
}

function fromUrl(url: string): PostgresServer {
  return {
    urlFor: (database) => {
      const u = new URL(url);
      u.pathname = `/${database}`;
      return u.toString();
    },
    stop: async () => undefined,
  };
}

export type EmbeddedOptions = Pick<EmbeddedPostgresOptions, 'extraListenAddresses' | 'allowNetworks'>;

/** A PostgreSQL of this process's own (the demo's embedded-postgres starter), which it can restart and stop. */
export function startEmbedded(extra: EmbeddedOptions = {}): Promise<PostgresServer> {
  return startEmbeddedPostgres({ ...extra, maxConnections: 300, dirPrefix: 'rw-pg-' });
}

export interface TestDatabase {
  url: string;
  pool: pg.Pool;
  server: PostgresServer;
  drop(): Promise<void>;
}

/** A fresh, migrated database of this test file's own; drop() removes it (and stops an embedded server last). */
export async function createTestDatabase(
  prefix = 'rw_test',
  options: { ownServer?: boolean; embedded?: EmbeddedOptions } = {},
): Promise<TestDatabase> {
  // ownServer: a server for this database alone, even when DATABASE_URL is set (for tests that restart it).
  const own = options.ownServer ? await startEmbedded(options.embedded) : undefined;
  const srv = own ?? (await postgresServer());
  if (!own) users++;
  const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: srv.urlFor('postgres') });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = srv.urlFor(name);
  const pool = createPool({ databaseUrl: url, max: 5, applicationName: 'retry-worker test', onError: () => undefined });
  await migrate(pool);
  return {
    url,
    pool,
    server: srv,
    drop: async () => {
      await pool.end();
      const a = new pg.Client({ connectionString: srv.urlFor('postgres') });
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
      if (own) await own.stop();
      else if (--users === 0) {
        server = undefined;
        await srv.stop();
      }
    },
  };
}
