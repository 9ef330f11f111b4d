import type pg from 'pg';
import { TimeoutError, withTimeout } from '../sleep.js';
import type { TermLockKey } from './term-lock.js';
import { intLiteral } from './int-literal.js';

export type FenceResult =
  | { outcome: 'fenced' } // our epoch is now the stored one: our term may execute
  | { outcome: 'superseded'; storedEpoch: number } // Postgres already holds an epoch at least as high
  | { outcome: 'busy' }; // the previous term still has open transactions; try again

export interface FenceTermArgs {
  name: string;
  epoch: number;
  holder: string;
  backend: string;
  lockKey: TermLockKey;
  lockTimeoutMs: number;
  /** The whole transaction answers within this, or its connection is destroyed and TimeoutError thrown. */
  timeoutMs: number;
}

/**
 * Starts a term in Postgres. Takes the barrier exclusively (waiting, up to lockTimeoutMs, for every claim
 * transaction of the previous term to end), raises the stored epoch only if ours is higher, and records
 * the term. Commits, so the barrier is released as soon as the epoch is raised.
 */
export async function fenceTerm(pool: pg.Pool, args: FenceTermArgs): Promise<FenceResult> {
  const client = await pool.connect();
  let destroy = false;
  try {
    return await withTimeout(fenceOn(client, args), args.timeoutMs, 'fencing the term');
  } catch (err) {
    destroy = err instanceof TimeoutError; // a silent connection must not go back to the pool
    throw err;
  } finally {
    client.release(destroy);
  }
}

/**
 * BEGIN, the lock timeout, the barrier, the epoch and the term records go in one round trip, as one simple
 * query (a new leader's first steps are part of every failover); each statement of it still takes its own
 * snapshot, so the epoch is read after the barrier is held. Its values are numbers we checked and strings
 * quoted by pg.
 */
async function fenceOn(client: pg.PoolClient, args: FenceTermArgs): Promise<FenceResult> {
  const name = client.escapeLiteral(args.name);
  const epoch = intLiteral(args.epoch);
  let results: pg.QueryResult<{ raised: boolean; stored: number | null }>[];
  try {
    results = (await client.query(`
      BEGIN;
      SET LOCAL lock_timeout = ${intLiteral(Math.max(1, Math.ceil(args.lockTimeoutMs)))};
      SELECT pg_advisory_xact_lock(${intLiteral(args.lockKey[0])}, ${intLiteral(args.lockKey[1])});
      WITH raised AS (
        INSERT INTO retry_worker_leader AS l (name, epoch, holder, since)
        VALUES (${name}, ${epoch}, ${client.escapeLiteral(args.holder)}, now())
        ON CONFLICT (name) DO UPDATE SET epoch = EXCLUDED.epoch, holder = EXCLUDED.holder, since = now()
          WHERE l.epoch < EXCLUDED.epoch
        RETURNING epoch
      ), superseded AS (
        UPDATE retry_worker_terms SET ended_at = now(), end_reason = 'superseded'
        WHERE name = ${name} AND epoch < ${epoch} AND ended_at IS NULL AND EXISTS (SELECT 1 FROM raised)
      ), recorded AS (
        INSERT INTO retry_worker_terms (name, epoch, holder, backend)
        SELECT ${name}, ${epoch}, ${client.escapeLiteral(args.holder)}, ${client.escapeLiteral(args.backend)} WHERE EXISTS (SELECT 1 FROM raised)
        ON CONFLICT (name, epoch) DO NOTHING
      )
      SELECT EXISTS (SELECT 1 FROM raised) AS raised, (SELECT epoch FROM retry_worker_leader WHERE name = ${name}) AS stored;
      COMMIT`)) as unknown as pg.QueryResult<{ raised: boolean; stored: number | null }>[];
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    if ((err as { code?: string }).code === '55P03') return { outcome: 'busy' };
    throw err;
  }
  // `stored` is read in the same statement's snapshot, before its own insert: the epoch that superseded ours.
  const row = results[3]!.rows[0]!;
  return row.raised ? { outcome: 'fenced' } : { outcome: 'superseded', storedEpoch: row.stored ?? 0 };
}

/** Records why a term ended (best effort: the audit trail, not the fence). */
export async function endTerm(pool: pg.Pool, name: string, epoch: number, reason: string): Promise<void> {
  await pool.query(
    `UPDATE retry_worker_terms SET ended_at = now(), end_reason = $3
     WHERE name = $1 AND epoch = $2 AND ended_at IS NULL`,
    [name, epoch, reason],
  );
}
