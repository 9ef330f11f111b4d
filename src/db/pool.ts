import pg from 'pg';

export interface PoolOptions {
  databaseUrl: string;
  max: number;
  applicationName: string;
  /** Session settings sent in the startup packet (no round trip), e.g. { statement_timeout: 2000 }. */
  session?: Readonly<Record<string, number | string>>;
  /** How long to wait for a new connection (default 10 s). */
  connectionTimeoutMs?: number;
  onError?: (err: Error) => void;
}

type TypeId = Parameters<typeof pg.types.getTypeParser>[0];

const INT8_OID = 20;
const INT8_ARRAY_OID = 1016;

/** bigint columns as numbers: ids, epochs and counts here stay far below 2^53. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return (value: string) => Number(value);
    if (oid === INT8_ARRAY_OID) {
      const parseArray = pg.types.getTypeParser(oid as TypeId, 'text') as (value: string) => string[];
      return (value: string) => parseArray(value).map(Number);
    }
    return pg.types.getTypeParser(oid as TypeId, format);
  },
} as unknown as pg.CustomTypesConfig;

function startupOptions(session: PoolOptions['session']): string | undefined {
  if (!session) return undefined;
  const settings = Object.entries(session).map(([name, value]) => {
    if (!/^[a-z_.]+$/.test(name) || !/^[\w.]+$/.test(String(value)))
      throw new TypeError(`not a plain session setting: ${name}=${value}`);
    return `-c ${name}=${value}`;
  });
  return settings.length > 0 ? settings.join(' ') : undefined;
}

/**
 * The connection string and startup options: an `options` parameter of the URL (say, `-c search_path=app`) is
 * taken out of it (pg would let it replace ours) and sent first, ours after it, so that where both set a
 * setting, ours (which the guarantees rest on) wins. A URL without one is passed on as it is.
 */
function connection(databaseUrl: string, session: PoolOptions['session']) {
  const ours = startupOptions(session);
  const url = URL.canParse(databaseUrl) ? new URL(databaseUrl) : undefined;
  const theirs = url?.searchParams.get('options');
  if (!url || !theirs) return { connectionString: databaseUrl, options: ours };
  url.searchParams.delete('options');
  return { connectionString: url.toString(), options: [theirs, ours].filter(Boolean).join(' ') };
}

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    ...connection(options.databaseUrl, options.session),
    max: options.max,
    application_name: options.applicationName,
    types,
    keepAlive: true,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client that loses its connection emits on the pool. A checked-out client emits on itself, and
  // pg-pool attaches no listener to it: a session ended by the server between two statements would crash
  // the process. Every client gets a listener for its whole life; its next query then fails.
  pool.on('error', (err) => options.onError?.(err));
  pool.on('connect', (client) => client.on('error', (err) => options.onError?.(err)));
  return pool;
}

/** A pool of one connection for a CLI command (`retry-worker <command>`), ended when `use` settles. */
export async function withCommandPool<T>(
  databaseUrl: string,
  command: string,
  session: PoolOptions['session'],
  use: (pool: pg.Pool) => Promise<T>,
): Promise<T> {
  const pool = createPool({ databaseUrl, max: 1, applicationName: `retry-worker ${command}`, session });
  try {
    return await use(pool);
  } finally {
    await pool.end();
  }
}

/** A client of its own (not pooled), e.g. for LISTEN. */
export function createClient(options: Omit<PoolOptions, 'max'>): pg.Client {
  return new pg.Client({
    ...connection(options.databaseUrl, options.session),
    application_name: options.applicationName,
    types,
    keepAlive: true,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
  });
}
