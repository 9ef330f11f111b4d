import type pg from 'pg';
import { requirePg } from '../lazy-modules.cjs';

export interface PoolOptions {
  databaseUrl: string;
  max: number;
  applicationName: string;
  /** Ends a session that sits idle inside a transaction this long (a paused or hung leader). */
  idleInTransactionTimeoutMs?: number;
  /** Bounds every lock wait of this pool's sessions. */
  lockTimeoutMs?: number;
  /** Bounds every statement of this pool's sessions (status reads; never the claim pool). */
  statementTimeoutMs?: number;
  /** How long to wait for a new connection (default 10 s). */
  connectionTimeoutMs?: number;
  onError?: (err: Error) => void;
}

let loaded: typeof pg | undefined;

/**
 * pg, loaded on first use. At load, pg tells Node from Cloudflare Workers (lib/stream.js) by
 * `navigator.userAgent` where there is a navigator (Node 21 and later), else by constructing a fetch
 * `Response`, which on Node 20 first loads Node's whole fetch implementation (undici): about 50 ms, a tenth of
 * a replica's start-up, to learn nothing. So while pg loads, and only then, it sees the navigator that newer
 * Node has (the load is synchronous; only require hooks, such as tracing agents patching pg, also see it).
 */
function pgModule(): typeof pg {
  if (loaded) return loaded;
  let hinted = false;
  if (!('navigator' in globalThis)) {
    try {
      Object.defineProperty(globalThis, 'navigator', { value: { userAgent: `Node.js/${process.versions.node}` }, configurable: true });
      hinted = true;
    } catch {
      // a frozen global object: pg takes its slower way
    }
  }
  try {
    loaded = requirePg();
  } finally {
    if (hinted) delete (globalThis as { navigator?: unknown }).navigator;
  }
  return loaded;
}

const INT8_OID = 20;
const INT8_ARRAY_OID = 1016;

/** bigint columns as numbers: ids, epochs and counts here stay far below 2^53. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return (value: string) => Number(value);
    if (oid === INT8_ARRAY_OID) {
      const parseArray = (pgModule().types.getTypeParser as (oid: number, format: 'text') => (value: string) => string[])(oid, 'text');
      return (value: string) => parseArray(value).map(Number);
    }
    return pgModule().types.getTypeParser(oid, format);
  },
} as unknown as pg.CustomTypesConfig;

/** Session settings sent in the startup packet, so they cost no round trip. */
function sessionOptions(options: Pick<PoolOptions, 'idleInTransactionTimeoutMs' | 'lockTimeoutMs' | 'statementTimeoutMs'>): string | undefined {
  const settings: string[] = [];
  if (options.idleInTransactionTimeoutMs !== undefined) settings.push(`-c idle_in_transaction_session_timeout=${Math.ceil(options.idleInTransactionTimeoutMs)}`);
  if (options.lockTimeoutMs !== undefined) settings.push(`-c lock_timeout=${Math.ceil(options.lockTimeoutMs)}`);
  if (options.statementTimeoutMs !== undefined) settings.push(`-c statement_timeout=${Math.ceil(options.statementTimeoutMs)}`);
  return settings.length > 0 ? settings.join(' ') : undefined;
}

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new (pgModule().Pool)({
    connectionString: options.databaseUrl,
    max: options.max,
    application_name: options.applicationName,
    options: sessionOptions(options),
    types,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client that loses its connection emits on the pool. A checked-out client emits on itself, and
  // pg-pool attaches no listener to it: a session ended by the server between two statements (say by
  // idle_in_transaction_session_timeout while this process was paused) would crash the process. Every client
  // gets a listener for its whole life; its next query then fails and its holder handles that.
  pool.on('error', (err) => options.onError?.(err));
  pool.on('connect', (client) => client.on('error', (err) => options.onError?.(err)));
  return pool;
}

/** A client of its own (not pooled), e.g. for LISTEN. */
export function createClient(options: Omit<PoolOptions, 'max'>): pg.Client {
  return new (pgModule().Client)({
    connectionString: options.databaseUrl,
    application_name: options.applicationName,
    options: sessionOptions(options),
    types,
    connectionTimeoutMillis: 10_000,
  });
}
