import type pg from 'pg';
import { TimeoutError, withTimeout } from '../sleep.js';
import type { TermLockKey } from './term-lock.js';

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

async function fenceOn(client: pg.PoolClient, args: FenceTermArgs): Promise<FenceResult> {
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.ceil(args.lockTimeoutMs))}`);
    try {
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [...args.lockKey]);
    } catch (err) {
      await client.query('ROLLBACK');
      if ((err as { code?: string }).code === '55P03') return { outcome: 'busy' };
      throw err;
    }
    const raised = await client.query(
      `INSERT INTO retry_worker_leader AS l (name, epoch, holder, since)
       VALUES ($1, $2, $3, now())
       ON CONFLICT (name) DO UPDATE SET epoch = EXCLUDED.epoch, holder = EXCLUDED.holder, since = now()
         WHERE l.epoch < EXCLUDED.epoch
       RETURNING epoch`,
      [args.name, args.epoch, args.holder],
    );
    if (raised.rowCount === 0) {
      const stored = await client.query<{ epoch: number }>('SELECT epoch FROM retry_worker_leader WHERE name = $1', [args.name]);
      await client.query('ROLLBACK');
      return { outcome: 'superseded', storedEpoch: stored.rows[0]?.epoch ?? 0 };
    }
    await client.query(
      `UPDATE retry_worker_terms SET ended_at = now(), end_reason = 'superseded'
       WHERE name = $1 AND epoch < $2 AND ended_at IS NULL`,
      [args.name, args.epoch],
    );
    await client.query(
      `INSERT INTO retry_worker_terms (name, epoch, holder, backend) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name, epoch) DO NOTHING`,
      [args.name, args.epoch, args.holder, args.backend],
    );
    await client.query('COMMIT');
    return { outcome: 'fenced' };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** Records why a term ended (best effort: the audit trail, not the fence). */
export async function endTerm(pool: pg.Pool, name: string, epoch: number, reason: string): Promise<void> {
  await pool.query(
    `UPDATE retry_worker_terms SET ended_at = now(), end_reason = $3
     WHERE name = $1 AND epoch = $2 AND ended_at IS NULL`,
    [name, epoch, reason],
  );
}
