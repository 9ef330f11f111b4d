import type pg from 'pg';
import { withTimeout } from '../async.js';
import type { ElectionConfig } from '../config.js';
import { createClient } from '../db/pool.js';
import type { Logger } from '../observability/logger.js';
import type { Timings } from '../timings.js';
import { Waker } from '../waker.js';
import type { LeaseBackend, Lost, Won } from './campaign.js';
import type { HeldLease } from './hold-term.js';

/** The channel a released lease is announced on; the payload is the election name. */
const LEASE_CHANNEL = 'retry_worker_lease';

/**
 * Takes the lease if it has expired by the database's clock (or is still ours from a term that ended). Every
 * acquisition raises the epoch, never below the fence's stored epoch + 1, so a switch from another backend is
 * not fenced out forever. On a loss the outer SELECT reports who holds the lease and for how much longer.
 */
const ACQUIRE_SQL = `
WITH fence AS (
  SELECT coalesce(max(epoch), 0) AS epoch FROM retry_worker_leader WHERE name = $1
), taken AS (
  INSERT INTO retry_worker_lease AS l (name, holder, epoch, token, expires_at)
  SELECT $1, $2, fence.epoch + 1, $4, clock_timestamp() + $3::float8 * interval '1 millisecond' FROM fence
  ON CONFLICT (name) DO UPDATE
    SET holder = EXCLUDED.holder,
        epoch = greatest(l.epoch + 1, EXCLUDED.epoch),
        token = EXCLUDED.token,
        expires_at = EXCLUDED.expires_at
    WHERE l.expires_at <= clock_timestamp() OR l.holder = EXCLUDED.holder
  RETURNING l.epoch
)
SELECT taken.epoch AS won,
       cur.holder AS holder,
       cur.epoch AS epoch,
       (extract(epoch FROM cur.expires_at - clock_timestamp()) * 1000)::float8 AS remaining_ms
FROM (SELECT 1) AS one
LEFT JOIN taken ON true
LEFT JOIN retry_worker_lease AS cur ON cur.name = $1`;

/** Extends our lease only while the database still deems it held by this term. Zero rows: the term is over. */
const RENEW_SQL = `
UPDATE retry_worker_lease SET expires_at = clock_timestamp() + $3::float8 * interval '1 millisecond'
WHERE name = $1 AND token = $2 AND expires_at > clock_timestamp()`;

/** Gives our lease back (the row stays, so the epoch keeps growing) and wakes the followers at commit. */
const RELEASE_SQL = `
WITH released AS (
  UPDATE retry_worker_lease SET expires_at = clock_timestamp()
  WHERE name = $1 AND token = $2
  RETURNING name
)
SELECT pg_notify('${LEASE_CHANNEL}', name) FROM released`;

/**
 * The election on a lease row in Postgres, judged by the database's clock: no infrastructure beyond the
 * database. A loser sleeps until the lease runs out by the database's clock (at most a TTL/3), woken early by
 * the NOTIFY of a release. Statements run on the elector's own small pool, each bounded as a whole (pool wait
 * included); a connection whose statement timed out is discarded. LISTEN only shortens a follower's wait.
 */
export class PostgresLease implements LeaseBackend {
  readonly name = 'postgres';
  private readonly released = new Waker();
  private listener: pg.Client | undefined;
  private listenFailedAt = Number.NEGATIVE_INFINITY;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly databaseUrl: string,
    private readonly config: ElectionConfig,
    private readonly replicaId: string,
    private readonly timings: Timings,
    private readonly log: Logger,
  ) {}

  async tryToWin(token: string): Promise<Won | Lost> {
    this.ensureListener();
    const { rows } = await this.query<{
      won: number | null;
      holder: string | null;
      epoch: number | null;
      remaining_ms: number | null;
    }>(ACQUIRE_SQL, [this.config.name, this.replicaId, this.timings.leaseTtlMs, token], 'lease acquisition');
    const row = rows[0];
    if (row?.won !== null && row?.won !== undefined)
      return { won: true, epoch: Number(row.won), grantedMs: this.timings.leaseTtlMs, lease: this.held(token) };
    // Try again soon after the lease runs out by the database's clock, and at least every TTL/3.
    const remainingMs = row?.remaining_ms ?? 0;
    return {
      won: false,
      holder: row?.holder ?? null,
      ...(row?.epoch ? { epoch: Number(row.epoch) } : {}),
      retryInMs: Math.min(this.timings.renewEveryMs, Math.max(10, remainingMs + 10)),
    };
  }

  waitForChange(_lost: Lost, maxMs: number, signal: AbortSignal): Promise<void> {
    return this.released.wait(maxMs, signal);
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1', [], 'ping');
  }

  async close(): Promise<void> {
    this.closed = true;
    const listener = this.listener;
    this.listener = undefined;
    if (listener)
      await withTimeout(listener.end(), this.timings.electionCallTimeoutMs, 'closing the LISTEN connection').catch(
        () => undefined,
      );
  }

  private held(token: string): HeldLease {
    const { name } = this.config;
    return {
      renew: async () =>
        (await this.query(RENEW_SQL, [name, token, this.timings.leaseTtlMs], 'lease renewal')).rowCount === 0
          ? 0
          : this.timings.leaseTtlMs,
      release: async () => {
        await this.query(RELEASE_SQL, [name, token], 'lease release');
      },
    };
  }

  /** One statement on a pooled connection, bounded as a whole (pool wait included) by the call timeout. */
  private async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values: unknown[],
    what: string,
  ): Promise<pg.QueryResult<R>> {
    const limitMs = this.timings.electionCallTimeoutMs;
    const startedAt = performance.now();
    const connecting = this.pool.connect();
    let client: pg.PoolClient;
    try {
      client = await withTimeout(connecting, limitMs, `${what}: waiting for a connection`);
    } catch (err) {
      connecting.then(
        (c) => c.release(),
        () => undefined,
      );
      throw err;
    }
    const leftMs = Math.max(1, Math.ceil(limitMs - (performance.now() - startedAt)));
    try {
      const result = await withTimeout(
        client.query<R>({ text, values, query_timeout: leftMs } as pg.QueryConfig),
        leftMs + 50,
        what,
      );
      client.release();
      return result;
    } catch (err) {
      // Its statement may still run: the connection is not reused.
      client.release(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }

  /** Starts a LISTEN connection in the background unless one is up or connecting, or one failed lately. */
  private ensureListener(): void {
    if (this.listener || this.closed || performance.now() - this.listenFailedAt < this.timings.leaseTtlMs) return;
    const client = createClient({
      databaseUrl: this.databaseUrl,
      applicationName: `retry-worker election ${this.replicaId}`,
    });
    this.listener = client;
    const drop = (err?: unknown) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      this.listenFailedAt = performance.now();
      this.log.debug({ err }, 'election LISTEN connection lost; polling alone until it is back');
      void client.end().catch(() => undefined);
    };
    client.on('error', drop);
    client.on('end', () => drop());
    client.on('notification', (msg) => {
      if (msg.channel === LEASE_CHANNEL && msg.payload === this.config.name) this.released.wake();
    });
    void (async () => {
      await client.connect();
      await client.query(`LISTEN ${LEASE_CHANNEL}`);
      // A release may have been announced before LISTEN took effect: look once more now.
      if (this.listener === client) this.released.wake();
    })().catch(drop);
  }
}
