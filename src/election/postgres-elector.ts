import type pg from 'pg';
import { createClient } from '../db/pool.js';
import type { Logger } from '../observability/logger.js';
import { withTimeout } from '../sleep.js';
import { Waker } from '../waker.js';
import type { Elector } from './elector.js';
import { holdTerm } from './hold-term.js';
import { Term, monotonicNow, type MonotonicClock } from './term.js';

export interface PostgresElectorOptions {
  /** Runs the lease statements; each is a single autocommit statement, so a transaction-mode pooler is fine. */
  pool: pg.Pool;
  /** For the LISTEN connection only (an optimisation: polling alone is correct). */
  databaseUrl: string;
  electionName: string;
  leaseTtlSeconds: number;
  replicaId: string;
  log: Logger;
  clock?: MonotonicClock;
}

/** The channel a released lease is announced on; the payload is the election name. */
export const LEASE_CHANNEL = 'retry_worker_lease';

/**
 * Takes the lease if it has expired by the database's clock (or is still ours from a term that ended, e.g. a
 * restart or an acquisition whose reply we gave up on). Every acquisition raises the epoch, and never below
 * the fence's stored epoch + 1, so a switch from another backend is not fenced out forever. The outer SELECT
 * reads the statement's snapshot: on a loss it reports who holds the lease and for how much longer.
 */
const ACQUIRE_SQL = `
WITH fence AS (
  SELECT coalesce(max(epoch), 0) AS epoch FROM retry_worker_leader WHERE name = $1
), taken AS (
  INSERT INTO retry_worker_lease AS l (name, holder, epoch, expires_at)
  SELECT $1, $2, fence.epoch + 1, clock_timestamp() + $3::float8 * interval '1 millisecond' FROM fence
  ON CONFLICT (name) DO UPDATE
    SET holder = EXCLUDED.holder,
        epoch = greatest(l.epoch + 1, EXCLUDED.epoch),
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
UPDATE retry_worker_lease SET expires_at = clock_timestamp() + $4::float8 * interval '1 millisecond'
WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > clock_timestamp()
RETURNING epoch`;

/** Gives our lease back (the row stays, so the epoch keeps growing) and wakes the followers at commit. */
const RELEASE_SQL = `
WITH released AS (
  UPDATE retry_worker_lease SET expires_at = clock_timestamp()
  WHERE name = $1 AND holder = $2 AND epoch = $3
  RETURNING name
)
SELECT pg_notify('${LEASE_CHANNEL}', name) FROM released`;

/**
 * The election on a lease row in Postgres, judged by the database's clock.
 *
 *   follower ──acquire (lease expired, or ours)──▶ leader ──term ends──▶ release + NOTIFY ──▶ follower
 *      ▲  └──lost: sleep min(TTL/3, time left on the lease), woken early by the NOTIFY──┘
 *
 * While leading: a renewal every TTL/3 moves `safeUntil = send time + TTL - margin` forward on the monotonic
 * clock (the database evaluates the statement after we send it, so its expiry is later than ours); a renewal
 * that matches no row ends the term (`lease-expired`); failed renewals are retried until a timer ends the term
 * (`deadline`) when safeUntil passes. Every statement is bounded by a call timeout, pool wait included, and a
 * connection whose statement timed out is discarded. LISTEN only shortens a follower's wait; polling suffices.
 */
export class PostgresElector implements Elector {
  readonly backend = 'postgres';
  private readonly ttlMs: number;
  private readonly marginMs: number;
  private readonly callTimeoutMs: number;
  private readonly pollMs: number;
  private readonly clock: MonotonicClock;
  private readonly log: Logger;
  private readonly stopping = new AbortController();
  private readonly waker = new Waker();
  private loop: Promise<void> | undefined;
  private current: Term | undefined;
  private listenClient: pg.Client | undefined;
  private listenFailedAt = -Infinity;

  constructor(private readonly options: PostgresElectorOptions) {
    this.ttlMs = options.leaseTtlSeconds * 1000;
    this.marginMs = Math.max(1000, this.ttlMs / 4);
    this.callTimeoutMs = Math.max(500, Math.min(2000, this.ttlMs / 4));
    this.pollMs = this.ttlMs / 3;
    this.clock = options.clock ?? monotonicNow;
    this.log = options.log.child({ component: 'election', backend: 'postgres' });
  }

  start(onTerm: (term: Term) => Promise<void>): void {
    if (this.loop || this.stopping.signal.aborted) return;
    this.loop = this.campaign(onTerm);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.current?.end('resigned');
    await this.loop;
    await this.closeListener();
  }

  /** SELECT 1 on the elector's own pool, bounded by the call timeout. */
  async ping(): Promise<void> {
    if (!this.loop || this.stopping.signal.aborted) throw new Error('the postgres elector is not running');
    await this.query('SELECT 1', [], 'ping');
  }

  private async campaign(onTerm: (term: Term) => Promise<void>): Promise<void> {
    let backoffMs = 100;
    let lastHolder: string | null | undefined;
    while (!this.stopping.signal.aborted) {
      this.ensureListener();
      let waitMs = this.pollMs;
      try {
        const sentAt = this.clock();
        const attempt = await this.tryToAcquire();
        backoffMs = 100;
        if (attempt.won !== undefined) {
          lastHolder = undefined;
          await this.lead(attempt.won, sentAt, onTerm);
          continue;
        }
        if (attempt.holder !== lastHolder) this.log.info({ leader: attempt.holder, epoch: attempt.epoch }, 'following the leader');
        lastHolder = attempt.holder;
        // Try again soon after the lease runs out by the database's clock, and at least every TTL/3.
        if (attempt.remainingMs !== undefined) waitMs = Math.min(this.pollMs, Math.max(10, attempt.remainingMs + 10));
      } catch (err) {
        if (this.stopping.signal.aborted) break;
        this.log.warn({ err, retryInMs: backoffMs }, 'postgres election attempt failed');
        waitMs = backoffMs;
        backoffMs = Math.min(backoffMs * 2, this.pollMs);
      }
      await this.waker.wait(waitMs, this.stopping.signal);
    }
  }

  private async tryToAcquire(): Promise<{ won?: number; holder: string | null; epoch?: number; remainingMs?: number }> {
    const { rows } = await this.query<{ won: unknown; holder: string | null; epoch: unknown; remaining_ms: unknown }>(
      ACQUIRE_SQL,
      [this.options.electionName, this.options.replicaId, this.ttlMs],
      'lease acquisition',
    );
    const row = rows[0];
    if (row?.won !== null && row?.won !== undefined) return { won: Number(row.won), holder: this.options.replicaId };
    return {
      holder: row?.holder ?? null,
      ...(row?.epoch !== null && row?.epoch !== undefined ? { epoch: Number(row.epoch) } : {}),
      ...(row?.remaining_ms !== null && row?.remaining_ms !== undefined ? { remainingMs: Number(row.remaining_ms) } : {}),
    };
  }

  /** Holds the term: single-statement renewals (in holdTerm), then a release that wakes the followers. */
  private async lead(epoch: number, sentAt: number, onTerm: (term: Term) => Promise<void>): Promise<void> {
    const term = new Term(epoch, sentAt + this.ttlMs - this.marginMs, this.clock);
    this.current = term;
    const log = this.log.child({ epoch });
    log.info({ leaseTtlSeconds: this.options.leaseTtlSeconds, safeForMs: Math.round(term.remainingMs()) }, 'won the postgres election');
    if (this.stopping.signal.aborted) term.end('resigned');
    const { electionName, replicaId } = this.options;
    try {
      await holdTerm({
        term,
        onTerm,
        renewEveryMs: this.pollMs,
        marginMs: this.marginMs,
        clock: this.clock,
        log,
        lease: {
          renew: async () => ((await this.query(RENEW_SQL, [electionName, replicaId, epoch, this.ttlMs], 'lease renewal')).rowCount === 0 ? 0 : this.ttlMs),
          release: async () => ((await this.query(RELEASE_SQL, [electionName, replicaId, epoch], 'lease release')).rowCount ?? 0) > 0,
        },
      });
    } finally {
      this.current = undefined;
    }
  }

  /**
   * One statement on a pooled connection, bounded as a whole (pool wait included) by the call timeout. A
   * connection that failed or timed out is discarded rather than reused, since its statement may still run.
   */
  private async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[], what: string): Promise<pg.QueryResult<R>> {
    const startedAt = this.clock();
    const connecting = this.options.pool.connect();
    let client: pg.PoolClient;
    try {
      client = await withTimeout(connecting, this.callTimeoutMs, `${what}: waiting for a connection`);
    } catch (err) {
      connecting.then((c) => c.release(), () => undefined);
      throw err;
    }
    const left = Math.max(1, Math.ceil(this.callTimeoutMs - (this.clock() - startedAt)));
    try {
      const config = { text, values, query_timeout: left } as pg.QueryConfig;
      const res = await withTimeout(client.query<R>(config), left + 50, what);
      client.release();
      return res;
    } catch (err) {
      client.release(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }

  /** Starts a LISTEN connection in the background unless one is up or connecting, or one failed lately. */
  private ensureListener(): void {
    if (this.listenClient || this.stopping.signal.aborted) return;
    if (this.clock() - this.listenFailedAt < this.ttlMs) return;
    const client = createClient({ databaseUrl: this.options.databaseUrl, applicationName: `retry-worker election ${this.options.replicaId}` });
    this.listenClient = client;
    const drop = (err?: unknown) => {
      if (this.listenClient !== client) return;
      this.listenClient = undefined;
      this.listenFailedAt = this.clock();
      this.log.debug({ err }, 'election LISTEN connection lost; polling alone until it is back');
      void client.end().catch(() => undefined);
    };
    client.on('error', drop);
    client.on('end', () => drop());
    client.on('notification', (msg) => {
      if (msg.channel === LEASE_CHANNEL && msg.payload === this.options.electionName) this.waker.wake();
    });
    void (async () => {
      await client.connect();
      await client.query(`LISTEN ${LEASE_CHANNEL}`);
      // A release may have been announced before LISTEN took effect: look once more now.
      if (this.listenClient === client) this.waker.wake();
    })().catch(drop);
  }

  private async closeListener(): Promise<void> {
    const client = this.listenClient;
    this.listenClient = undefined;
    if (client) await withTimeout(client.end(), this.callTimeoutMs, 'closing the LISTEN connection').catch(() => undefined);
  }
}
