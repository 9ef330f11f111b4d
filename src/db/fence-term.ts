import type pg from 'pg';
import { withTimeout } from '../async.js';
import { TimeoutError } from '../errors.js';
import { intLiteral, textLiteral } from './literal.js';
import { barrierStatement, type TermLockKey } from './term-lock.js';

export type FenceResult =
  | { outcome: 'holding' } // Postgres holds this term now: it may execute
  | { outcome: 'superseded'; storedEpoch: number } // Postgres holds another term at least as new: step down
  | { outcome: 'busy' }; // the previous term's transactions did not end within lockTimeoutMs: try again

export interface FenceTermArgs {
  name: string;
  epoch: number;
  token: string;
  holder: string;
  backend: string;
  lockKey: TermLockKey;
  /** How long to wait in the barrier's queue. */
  lockTimeoutMs: number;
  /** The whole transaction answers within this, or its connection is destroyed and TimeoutError thrown. */
  timeoutMs: number;
}

/**
 * Starts a term in Postgres: takes the barrier exclusively, waiting (up to lockTimeoutMs) for every claim
 * transaction of the previous term to end; stores this term's epoch and token only if the stored epoch is
 * lower; records the term; commits, which releases the barrier.
 *
 * The stored epoch equal to ours with our token means an earlier try of this very term committed and its
 * answer was lost: it holds. Equal with another token means another term was handed the same epoch (a
 * backend that lost a write): refused.
 *
 * BEGIN, the lock timeout, the barrier, the epoch and the term records go in one round trip (see literal.ts);
 * each statement takes its own snapshot, so the epoch is read after the barrier is held. The term's
 * `started_at` is the clock when that statement ran (not the transaction's start, `now()`, which is before the
 * wait for the barrier): from then on no transaction of an older term holds it.
 */
export async function fenceTerm(pool: pg.Pool, args: FenceTermArgs): Promise<FenceResult> {
  const client = await withTimeout(pool.connect(), args.timeoutMs, 'connecting to fence the term');
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

interface FenceRow {
  raised: boolean;
  stored_epoch: number | null;
  stored_token: string | null;
}

async function fenceOn(client: pg.PoolClient, args: FenceTermArgs): Promise<FenceResult> {
  const name = textLiteral(client, args.name);
  const epoch = intLiteral(args.epoch);
  const token = textLiteral(client, args.token);
  const holder = textLiteral(client, args.holder);
  let results: pg.QueryResult<FenceRow>[];
  try {
    results = (await client.query(`
      BEGIN;
      SET LOCAL lock_timeout = ${intLiteral(Math.max(1, Math.ceil(args.lockTimeoutMs)))};
      ${barrierStatement(args.lockKey, 'exclusive')};
      WITH raised AS (
        INSERT INTO retry_worker_leader AS l (name, epoch, token, holder, since)
        VALUES (${name}, ${epoch}, ${token}, ${holder}, now())
        ON CONFLICT (name) DO UPDATE
          SET epoch = EXCLUDED.epoch, token = EXCLUDED.token, holder = EXCLUDED.holder, since = now()
          WHERE l.epoch < EXCLUDED.epoch
        RETURNING epoch
      ), superseded AS (
        UPDATE retry_worker_terms SET ended_at = now(), end_reason = 'superseded'
        WHERE name = ${name} AND epoch < ${epoch} AND ended_at IS NULL AND EXISTS (SELECT 1 FROM raised)
      ), recorded AS (
        INSERT INTO retry_worker_terms (name, epoch, token, holder, backend, started_at)
        SELECT ${name}, ${epoch}, ${token}, ${holder}, ${textLiteral(client, args.backend)}, clock_timestamp()
        WHERE EXISTS (SELECT 1 FROM raised)
        ON CONFLICT (name, epoch) DO NOTHING
      )
      SELECT EXISTS (SELECT 1 FROM raised) AS raised, l.epoch AS stored_epoch, l.token AS stored_token
      FROM (SELECT 1) AS one LEFT JOIN retry_worker_leader l ON l.name = ${name};
      COMMIT`)) as unknown as pg.QueryResult<FenceRow>[];
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    if ((err as { code?: string }).code === '55P03') return { outcome: 'busy' };
    throw err;
  }
  // `stored_*` are read in the statement's snapshot, before its own insert: the term that was stored.
  const row = results[3]?.rows[0];
  if (!row) throw new Error('the fence statement returned no row');
  if (row.raised || (row.stored_epoch === args.epoch && row.stored_token === args.token)) return { outcome: 'holding' };
  return { outcome: 'superseded', storedEpoch: row.stored_epoch ?? 0 };
}

/** Records why a term ended (best effort: the audit trail, not the fence). */
export async function endTerm(db: pg.Pool, name: string, epoch: number, token: string, reason: string): Promise<void> {
  await db.query(
    'UPDATE retry_worker_terms SET ended_at = now(), end_reason = $4 ' +
      'WHERE name = $1 AND epoch = $2 AND token = $3 AND ended_at IS NULL',
    [name, epoch, token, reason],
  );
}
